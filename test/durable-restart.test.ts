import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Consumer, PRODUCER_TOKEN, numberedPng, startGenServer } from './generations-helpers.js';
import { killHard, serveImages as serve, type ServerProcess } from './server-process.js';
import { tempDir } from './temp-dir.js';

// Real `framehub serve` processes killed with SIGKILL: run `npm run build` first.

const JOURNAL = 'events.jsonl';

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const isImage = Buffer.isBuffer(body);
  const response = await fetch(server.http + path, {
    method,
    headers: { authorization: `Bearer ${PRODUCER_TOKEN}`, ...(body !== undefined && { 'content-type': isImage ? 'image/png' : 'application/json' }) },
    ...(body !== undefined && { body: isImage ? new Uint8Array(body) : JSON.stringify(body) }),
  });
  return { status: response.status, json: await response.json() };
}

/** `/ws/producer` with the token: sends commands, resolves each with its ack. */
async function producer(server: ServerProcess) {
  const socket = await new Consumer().connect(`${server.ws}/ws/producer?token=${PRODUCER_TOKEN}`);
  let next = 0;
  const ack = async (requestId: number) => {
    await socket.until(() => socket.messages.some((m) => m.request_id === requestId), `the answer to request ${requestId}`);
    const answer = socket.messages.find((m) => m.request_id === requestId);
    assert.equal(answer.type, 'ack', JSON.stringify(answer));
    return answer;
  };
  return {
    socket,
    async image(jobId: string, bytes: Buffer, imageIdx: number, imageLength: number) {
      const id = next++;
      socket.ws.send(JSON.stringify({ type: 'job.image', request_id: id, job_id: jobId, size: bytes.length, imageIdx, imageLength, filename: `p_${imageIdx}.png` }));
      socket.ws.send(bytes);
      return ack(id);
    },
  };
}

test('images answered 201 or acked survive kill -9; after a restart ?since= replays exactly what was missed, in order, once, on /ws/streaming and /ws', async (t) => {
  const dir = await tempDir(t);
  const first = await serve(t, dir);
  const HTTP_IMAGES = 12;
  const SOCKET_IMAGES = 6;
  const total = HTTP_IMAGES + SOCKET_IMAGES;
  const images = await Promise.all(Array.from({ length: total }, (_, i) => numberedPng(i + 1)));

  const job = await api(first, 'POST', '/api/generations', { prompt: 'before the crash', job_id: 'crash-1' });
  assert.equal(job.status, 201);
  const ids: number[] = [];
  for (let i = 0; i < HTTP_IMAGES; i++) {
    const { status, json } = await api(first, 'POST', `/api/generations/crash-1/images?imageIdx=${i}&imageLength=${total}`, images[i]);
    assert.equal(status, 201, JSON.stringify(json));
    ids.push(json.event_id);
  }
  const streaming = await producer(first);
  for (let i = HTTP_IMAGES; i < total; i++) ids.push((await streaming.image('crash-1', images[i]!, i, total)).event_id);
  // Killed right after the last ack: no shutdown, no chance to flush anything more.
  await killHard(first);

  const second = await serve(t, dir);
  // The consumers saw everything up to image 4 before the crash.
  const seen = 4;
  const since = ids[seen]!;
  const images0 = await new Consumer().connect(`${second.ws}/ws/streaming?since=${since}`);
  const events = await new Consumer().connect(`${second.ws}/ws?since=${since}`);

  // A marker published after the restart: whatever arrives before it is the whole replay.
  const marker = await api(second, 'POST', '/api/generations', { prompt: 'after the restart', job_id: 'after-1' });
  assert.equal(marker.status, 201, JSON.stringify(marker.json));
  const markerImage = await api(second, 'POST', '/api/generations/after-1/images?imageIdx=0&imageLength=1', await numberedPng(999));
  assert.equal(markerImage.status, 201);
  assert.ok(marker.json.event_id > ids.at(-1)!, `ids after the restart (${marker.json.event_id}) come after those before (${ids.at(-1)})`);

  const missed = ids.slice(seen + 1);
  await images0.until(() => images0.messages.some((m) => m.id === markerImage.json.event_id), 'the marker image on /ws/streaming');
  const streamed = images0.messages.filter((m) => m.type === 'image-generated');
  assert.deepEqual(streamed.map((m) => m.id), [...missed, markerImage.json.event_id], '/ws/streaming: the missed images in order, once, then the live one');
  for (const [k, m] of streamed.slice(0, -1).entries()) {
    assert.equal(m.data.imageIdx, seen + 1 + k);
    assert.ok(Buffer.from(m.data.base64Data, 'base64').equals(images[seen + 1 + k]!), `image ${seen + 1 + k} byte for byte`);
  }
  assert.equal(images0.messages.filter((m) => m.type === 'replay-gap').length, 0, 'no gap');

  await events.until(() => events.messages.some((m) => m.id === markerImage.json.event_id), 'the marker image on /ws');
  const enveloped = events.messages.filter((m) => m.id !== undefined);
  assert.deepEqual(enveloped.map((m) => m.id), [...missed, marker.json.event_id, markerImage.json.event_id], '/ws: the missed events in order, once, then the live ones');
  assert.deepEqual(enveloped.slice(0, missed.length).map((m) => m.type), missed.map(() => 'image.generation.completed'));
  for (const m of enveloped.slice(0, missed.length)) {
    const file = await fetch(second.http + m.payload.image_url);
    assert.equal(file.status, 200, `${m.payload.image_url} is served after the restart`);
  }
  images0.ws.close();
  events.ws.close();

  // The job came back from the journal: a retried upload of an image it has is refused, not doubled.
  const retry = await api(second, 'POST', `/api/generations/crash-1/images?imageIdx=${total - 1}&imageLength=${total}`, images[total - 1]);
  assert.deepEqual([retry.status, retry.json.error], [409, 'duplicate_image']);
});

test('a torn last line in the journal (kill -9 mid-write) is skipped on start, never fatal; ids go on after the last whole event', async (t) => {
  const dir = await tempDir(t);
  const first = await serve(t, dir);
  const job = await api(first, 'POST', '/api/generations', { prompt: 'torn', job_id: 'torn-1' });
  const image = await api(first, 'POST', '/api/generations/torn-1/images?imageIdx=0&imageLength=2', await numberedPng(7));
  assert.equal(image.status, 201);
  await killHard(first);
  // What a write cut short leaves: the start of a line, no newline.
  await appendFile(join(dir, JOURNAL), `{"id":${image.json.event_id + 1},"at":17000000,"event":{"kind":"notifica`);

  const second = await serve(t, dir);
  await second.printed(/skipped 1 unreadable line/);
  const consumer = await new Consumer().connect(`${second.ws}/ws?since=${job.json.event_id - 1}`);
  const note = await api(second, 'POST', '/api/notifications', { severity: 'info', message: 'after the torn line' });
  assert.equal(note.status, 201);
  assert.equal(note.json.event_id, image.json.event_id + 1, 'the torn event never existed: its id is the next one');
  await consumer.until(() => consumer.messages.some((m) => m.id === note.json.event_id), 'the notification');
  assert.deepEqual(consumer.messages.filter((m) => m.id !== undefined).map((m) => [m.id, m.type]), [
    [job.json.event_id, 'image.generation.started'],
    [image.json.event_id, 'image.generation.completed'],
    [note.json.event_id, 'system.notification'],
  ]);
  consumer.ws.close();
  const lines = (await readFile(join(dir, JOURNAL), 'utf8')).split('\n');
  assert.equal(lines.at(-1), '', 'the file ends with a whole line');
  assert.ok(lines.slice(0, -1).every((line) => JSON.parse(line)), 'every line parses: the torn one was cut on start');
});

test('the journal stays bounded by REPLAY_SIZE (rewritten as it grows); ids continue after a restart, from its header when no entry is left', async (t) => {
  const dir = await tempDir(t);
  const replaySize = 10;
  const restart = async (server: { server: { close(): Promise<void> } }) => {
    await server.server.close(); // not close(): that removes the directory
    return startGenServer({ imageDir: dir, replaySize });
  };
  let server = await startGenServer({ imageDir: dir, replaySize });
  t.after(() => server.server.close());
  const ids: number[] = [];
  for (let i = 0; i < 300; i++) ids.push((await server.api('POST', '/api/notifications', { severity: 'info', message: `n${i}` })).json.event_id);
  const lines = (await readFile(join(dir, JOURNAL), 'utf8')).split('\n').filter(Boolean).length;
  // Header + live entries + at most replaySize + 64 lines of slack before the next rewrite.
  assert.ok(lines <= 1 + replaySize + replaySize + 64, `journal has ${lines} lines for a log of ${replaySize}`);

  server = await restart(server);
  const stats = (await server.api('GET', '/api/generations/stats')).json;
  assert.equal(stats.last_event_id, ids.at(-1));
  assert.equal(stats.replay_events, replaySize, 'the newest REPLAY_SIZE events were restored');
  const next = await server.api('POST', '/api/notifications', { severity: 'info', message: 'next' });
  assert.equal(next.json.event_id, ids.at(-1)! + 1);

  // Every entry expired (REPLAY_AGE) and compacted away: only the header remembers the last id.
  await server.server.close();
  await writeFile(join(dir, JOURNAL), '{"lastId":5000}\n');
  server = await startGenServer({ imageDir: dir, replaySize });
  assert.equal((await server.api('POST', '/api/notifications', { severity: 'info', message: 'after' })).json.event_id, 5001);
});
