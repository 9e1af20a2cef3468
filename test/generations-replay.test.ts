import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { Consumer, JWT_SECRET, closedWithin, noisePng, numberedPng, sha, startGenServer, startProducer, type GenServer } from './generations-helpers.js';

const TOTAL = 100;

/**
 * Runs the kill-twice scenario against one route: `extract` picks the image messages (with
 * their event id and image index) out of everything the consumer receives.
 */
async function killTwiceScenario(
  srv: GenServer,
  jobId: string,
  urlFor: (since?: number) => string,
  extract: (message: any) => { id: number; imageIdx: number } | undefined,
  lastEventId: (messages: any[]) => number,
) {
  const images = await Promise.all(Array.from({ length: TOTAL }, (_, i) => numberedPng(i)));
  const received: { id: number; imageIdx: number }[] = [];
  const all: any[] = [];
  let generation = 0;
  const makeConsumer = () => {
    const mine = ++generation;
    return new Consumer((message) => {
      if (mine !== generation) return; // late bytes of a killed connection
      all.push(message);
      const image = extract(message);
      if (image) received.push(image);
    });
  };
  let consumer = await makeConsumer().connect(urlFor());
  const producer = startProducer(srv, jobId, images);
  for (const killAt of [30, 65]) {
    await consumer.until(() => received.length >= killAt, `${killAt} images before the kill`);
    consumer.kill();
    generation++;
    // Let the producer publish some while nobody listens, so the replay has work to do.
    await producer.atLeast(received.length + 10);
    consumer = await makeConsumer().connect(urlFor(lastEventId(all)));
  }
  await producer.done;
  await consumer.until(() => received.length >= TOTAL, `all ${TOTAL} images`);
  consumer.ws.close();

  assert.equal(received.length, TOTAL, 'no image twice, none missing');
  assert.deepEqual(received.map((r) => r.imageIdx), Array.from({ length: TOTAL }, (_, i) => i), 'images in order');
  for (let i = 1; i < received.length; i++) assert.ok(received[i]!.id > received[i - 1]!.id, 'event ids increase');
  return { images, all };
}

test('/ws/streaming: a consumer killed twice mid-way ends with all 100 images, in order, none twice', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const { status, json: job } = await srv.api('POST', '/api/generations', {
    prompt: 'a lighthouse at dusk', negative_prompt: 'blurry', seed: '7419854775631041493', size: '16x16', workflow: 'novaAnimeXL.json',
  });
  assert.equal(status, 201);

  const { images, all } = await killTwiceScenario(
    srv,
    job.job_id,
    (since) => `${srv.ws}/ws/streaming${since === undefined ? '' : `?since=${since}`}`,
    (m) => (m.type === 'image-generated' ? { id: m.id, imageIdx: m.data.imageIdx } : undefined),
    (messages) => messages.filter((m) => m.type === 'image-generated').at(-1).id,
  );

  const generated = all.filter((m) => m.type === 'image-generated');
  // Image events are the only events after `started`: their ids have no holes.
  for (let i = 1; i < generated.length; i++) assert.equal(generated[i].id, generated[i - 1].id + 1);
  // Field for field as seeds/000 documents it, and the bytes published.
  const first = generated[0];
  assert.deepEqual(Object.keys(first), ['type', 'id', 'data']);
  assert.deepEqual(Object.keys(first.data), ['mode', 'promptId', 'base64Data', 'mimeType', 'imageInfo', 'params', 'imageIdx', 'imageLength', 'timestamp']);
  assert.equal(first.data.mode, 'push');
  assert.equal(first.data.promptId, job.job_id);
  assert.equal(first.data.mimeType, 'image/png');
  assert.deepEqual(first.data.imageInfo, { filename: 'img_0.png', subfolder: '', type: 'output' });
  assert.deepEqual(first.data.params, {
    positivePrompt: 'a lighthouse at dusk', negativePrompt: 'blurry', seed: '7419854775631041493', width: 16, height: 16, workflowName: 'novaAnimeXL.json',
  });
  assert.equal(first.data.imageLength, TOTAL);
  assert.equal(typeof first.data.timestamp, 'number');
  generated.forEach((m, i) => assert.equal(sha(Buffer.from(m.data.base64Data, 'base64')), sha(images[i]!), `bytes of image ${i}`));
});

test('/ws: a JWT consumer killed twice mid-way ends with all 100 completions of its own jobs, in order, none twice', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const token = await new SignJWT({ scope: 'view' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('10m').sign(new TextEncoder().encode(JWT_SECRET));
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'a fox', seed: 42, user_id: 'alice', workflow: 'flux.json' });
  const { json: other } = await srv.api('POST', '/api/generations', { prompt: 'secret', user_id: 'bob' });
  // Bob's job makes events in between; Alice must never see them.
  const bobImage = await numberedPng(999);
  const bobDone = (async () => {
    for (let i = 0; i < 5; i++) await srv.publishImage(other.job_id, bobImage, { imageIdx: i, imageLength: 5 });
  })();

  const { all } = await killTwiceScenario(
    srv,
    job.job_id,
    (since) => `${srv.ws}/ws?token=${token}${since === undefined ? '' : `&since=${since}`}`,
    (m) => (m.type === 'image.generation.completed' ? { id: m.id, imageIdx: m.payload.metadata.image_idx } : undefined),
    (messages) => messages.filter((m) => typeof m.id === 'number').at(-1).id,
  );
  await bobDone;

  assert.ok(all.every((m) => m.payload?.job_id !== other.job_id), 'no event of another user');
  const completed = all.filter((m) => m.type === 'image.generation.completed');
  const ids = all.filter((m) => typeof m.id === 'number').map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  const sample = completed[42];
  assert.equal(typeof sample.timestamp, 'string');
  assert.ok(!Number.isNaN(Date.parse(sample.timestamp)));
  assert.equal(sample.payload.job_id, job.job_id);
  assert.equal(sample.payload.metadata.prompt, 'a fox');
  assert.equal(sample.payload.metadata.seed, '42');
  const image = await fetch(srv.http + sample.payload.image_url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(image.status, 200);
  assert.equal(image.headers.get('content-type'), 'image/png');
  assert.equal(sha(Buffer.from(await image.arrayBuffer())), sha(await numberedPng(42)));
});

test('a consumer that stops reading is closed with 4408 before the log drops its events, and catches up with ?since=', async (t) => {
  const srv = await startGenServer({ replaySize: 40 });
  t.after(() => srv.close());
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'noise' });
  // 600×600 noise: ~1 MB a PNG, ~1.4 MB of base64 a message; the kernel's socket buffers hold a few at most.
  const images = await Promise.all(Array.from({ length: 4 }, () => noisePng(600)));
  const imageFor = (i: number) => images[i % images.length]!;

  const received: any[] = [];
  const consumer = await new Consumer((m) => m.type === 'image-generated' && received.push(m)).connect(`${srv.ws}/ws/streaming`);
  const rawSocket = (consumer.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  rawSocket.pause();

  // Publish until the server gives up on the stalled consumer (more than 36 of the log's 40 events unsent).
  let published = 0;
  for (;;) {
    const { status } = await srv.publishImage(job.job_id, imageFor(published), { imageIdx: published, imageLength: 100 });
    assert.equal(status, 201);
    published++;
    const { json: stats } = await srv.api('GET', '/api/generations/stats');
    if (stats.closed_too_slow === 1) break;
    // How many it takes depends on the kernel's socket buffers; the catch-up below proves none was lost.
    assert.ok(published < 200, 'the stalled consumer is closed at some point');
  }
  assert.ok(published > 10, `the consumer was held ${published} events, not dropped at once`);
  t.diagnostic(`stalled consumer closed with 4408 after ${published} published images (~1 MB each), replay log of 40`);

  const closing = closedWithin(consumer.ws, 30_000);
  rawSocket.resume();
  const { code, reason } = await closing;
  assert.equal(code, 4408);
  assert.match(reason, /too slow.*since/);
  const lastId = received.at(-1)?.id ?? 1;

  const again = await new Consumer((m) => m.type === 'image-generated' && received.push(m)).connect(`${srv.ws}/ws/streaming?since=${lastId}`);
  t.after(() => again.ws.terminate());
  // It replays what it missed (some 37 MB of JSON) before new images come: a consumer that
  // still lagged by more than 36 when they did would rightly be closed again.
  await again.until(() => received.length >= published, `the ${published} images published so far`, 60_000);
  const total = published + 5;
  for (; published < total; published++) await srv.publishImage(job.job_id, imageFor(published), { imageIdx: published, imageLength: 100 });
  await again.until(() => received.length >= total, `all ${total} images`, 60_000);
  assert.deepEqual(received.map((m) => m.data.imageIdx), Array.from({ length: total }, (_, i) => i));
});

test('a since older than the replay log gets a replay-gap notice, then the oldest events it still has', async (t) => {
  const srv = await startGenServer({ replaySize: 10 });
  t.after(() => srv.close());
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'gap' });
  const png = await numberedPng(1);
  for (let i = 0; i < 15; i++) await srv.publishImage(job.job_id, png, { imageIdx: i, imageLength: 15 });

  const streaming = await new Consumer().connect(`${srv.ws}/ws/streaming?since=1`);
  t.after(() => streaming.ws.terminate());
  await streaming.until(() => streaming.messages.filter((m) => m.type === 'image-generated').length === 10, '10 images');
  assert.deepEqual(streaming.messages[0], { type: 'replay-gap', reason: 'evicted', since: 1, resumeAfter: 6 });
  assert.deepEqual(streaming.messages.slice(1).map((m) => m.id), [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);

  const events = await new Consumer().connect(`${srv.ws}/ws?since=999`);
  t.after(() => events.ws.terminate());
  await events.until(() => events.messages.length >= 1, 'a notice');
  assert.equal(events.messages[0].type, 'replay.gap');
  assert.deepEqual(events.messages[0].payload, { reason: 'ahead', since: 999, resume_after: 16 });
  await srv.api('POST', '/api/notifications', { severity: 'info', message: 'hello' });
  await events.until(() => events.messages.length >= 2, 'the next live event');
  assert.equal(events.messages[1].id, 17);
  assert.deepEqual(events.messages[1].payload, { severity: 'info', message: 'hello', action_url: null });
});
