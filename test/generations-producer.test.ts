import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer, PRODUCER_TOKEN, closedWithin, noisePng, numberedPng, sha, startGenServer } from './generations-helpers.js';

const CHUNK = 60 * 1024; // under the server's 64 KiB message limit

/** Sends a job.image header and the bytes in chunks. */
function sendImage(producer: Consumer, header: Record<string, unknown>, bytes: Buffer): void {
  producer.ws.send(JSON.stringify({ type: 'job.image', size: bytes.length, ...header }));
  for (let at = 0; at < bytes.length; at += CHUNK) producer.ws.send(bytes.subarray(at, at + CHUNK));
}

test('the producer socket refuses wrong tokens (4401) and everything when publishing is off (4403)', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const wrong = await new Consumer().connect(`${srv.ws}/ws/producer?token=wrong-token-123`);
  assert.equal((await closedWithin(wrong.ws)).code, 4401);
  assert.equal(wrong.messages[0].error, 'unauthorized');
  const none = await new Consumer().connect(`${srv.ws}/ws/producer`);
  assert.equal((await closedWithin(none.ws)).code, 4401);

  const off = await startGenServer({ producerToken: '' });
  t.after(() => off.close());
  const disabled = await new Consumer().connect(`${off.ws}/ws/producer?token=${PRODUCER_TOKEN}`);
  const close = await closedWithin(disabled.ws);
  assert.equal(close.code, 4403);
  assert.match(close.reason, /PRODUCER_TOKEN/);
});

test('a producer streams a job and 20 chunked images without waiting; consumers get them in order, byte for byte', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const consumer = await new Consumer().connect(`${srv.ws}/ws/streaming`);
  const producer = await new Consumer().connect(`${srv.ws}/ws/producer`, { headers: { authorization: `Bearer ${PRODUCER_TOKEN}` } });
  t.after(() => { consumer.ws.terminate(); producer.ws.terminate(); });

  producer.ws.send(JSON.stringify({ type: 'job.create', request_id: 'c1', prompt: 'streamed', job_id: 'stream-1', seed: 5 }));
  producer.ws.send(JSON.stringify({ type: 'job.progress', request_id: 'p1', job_id: 'stream-1', progress: 10, stage: 'warming up' }));
  // One image bigger than a message (chunked), the rest small; all sent back to back.
  const images = [await noisePng(256), ...(await Promise.all(Array.from({ length: 19 }, (_, i) => numberedPng(i + 1))))];
  assert.ok(images[0]!.length > 2 * CHUNK);
  images.forEach((bytes, i) => sendImage(producer, { request_id: i, job_id: 'stream-1', imageIdx: i, imageLength: 20, filename: `s_${i}.png` }, bytes));

  await producer.until(() => producer.messages.length === 22, '22 answers');
  assert.deepEqual(producer.messages.map((m) => m.type), Array(22).fill('ack'), JSON.stringify(producer.messages.find((m) => m.type !== 'ack')));
  assert.deepEqual(producer.messages.map((m) => m.request_id), ['c1', 'p1', ...images.map((_, i) => i)]);
  assert.equal(producer.messages[0].job_id, 'stream-1');
  assert.match(producer.messages[2].image_url, /^\/images\//);

  await consumer.until(() => consumer.messages.length === 20, '20 images');
  assert.deepEqual(consumer.messages.map((m) => m.data.imageIdx), images.map((_, i) => i));
  consumer.messages.forEach((m, i) => assert.equal(sha(Buffer.from(m.data.base64Data, 'base64')), sha(images[i]!)));
  assert.equal(consumer.messages[0].data.params.seed, '5');
});

test('bad producer messages get errors with their request_id and the socket stays usable', async (t) => {
  const srv = await startGenServer({ maxImageSize: 100_000 });
  t.after(() => srv.close());
  const producer = await new Consumer().connect(`${srv.ws}/ws/producer`, {}, ['bearer', PRODUCER_TOKEN]);
  t.after(() => producer.ws.terminate());
  const answers = async (n: number) => {
    await producer.until(() => producer.messages.length >= n, `${n} answers`);
    return producer.messages[n - 1];
  };
  producer.ws.send('{oops');
  assert.equal((await answers(1)).error, 'invalid_json');
  producer.ws.send(JSON.stringify({ type: 'job.launch', request_id: 7 }));
  assert.deepEqual([(await answers(2)).error, producer.messages[1].request_id], ['unknown_command', 7]);
  producer.ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await answers(3)).error, 'unsupported_message');
  producer.ws.send(JSON.stringify({ type: 'job.progress', request_id: 'x', job_id: 'missing', progress: 3 }));
  assert.equal((await answers(4)).error, 'job_not_found');
  producer.ws.send(JSON.stringify({ type: 'job.create', request_id: 'c', prompt: 'p', job_id: 'j' }));
  assert.equal((await answers(5)).type, 'ack');
  producer.ws.send(JSON.stringify({ type: 'job.image', request_id: 'big', job_id: 'j', size: 200_000 }));
  assert.deepEqual([(await answers(6)).error, producer.messages[5].request_id], ['body_too_large', 'big']);
  producer.ws.send(JSON.stringify({ type: 'job.image', request_id: 'bad', job_id: 'j', size: 10, imageIdx: -1 }));
  assert.equal((await answers(7)).error, 'invalid_body');
  // A header, then a text message before the bytes: the upload is dropped with an error.
  producer.ws.send(JSON.stringify({ type: 'job.image', request_id: 'half', job_id: 'j', size: 1000 }));
  producer.ws.send(Buffer.alloc(10));
  producer.ws.send(JSON.stringify({ type: 'ping', request_id: 'after' }));
  assert.match((await answers(8)).message, /interrupted after 10 of 1000 bytes/);
  // Bytes that are no image.
  producer.ws.send(JSON.stringify({ type: 'job.image', request_id: 'junk', job_id: 'j', size: 4 }));
  producer.ws.send(Buffer.from('junk'));
  assert.equal((await answers(9)).error, 'not_an_image');
  // Still works.
  const png = await numberedPng(9);
  sendImage(producer, { request_id: 'ok', job_id: 'j' }, png);
  const ok = await answers(10);
  assert.deepEqual([ok.type, ok.request_id, ok.imageIdx], ['ack', 'ok', 0]);
});
