import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../src/generations/event-log.js';
import { ImageStore } from '../src/generations/image-store.js';
import { Generations } from '../src/generations/generations.js';
import { GenerationMessages } from '../src/protocols/generation-messages.js';
import { describeGraph } from '../src/bridges/comfyui-bridge.js';
import type { GenerationEvent } from '../src/generations/generation-event.js';
import { imageGeneratedMessage } from '../src/protocols/image-generated.js';
import { Consumer, numberedPng, startGenServer } from './generations-helpers.js';
import { txt2imgGraph } from './generations-fake-comfyui.js';

test('the event log numbers events without holes and drops the oldest past its size', () => {
  const log = new EventLog<string>({ maxEntries: 3, maxAgeMs: 0 });
  assert.equal(log.lastId, 0);
  assert.equal(log.oldestId, 1);
  for (const e of ['a', 'b', 'c', 'd', 'e']) log.append(e);
  assert.equal(log.lastId, 5);
  assert.equal(log.oldestId, 3);
  assert.equal(log.next(2)?.event, 'c');
  assert.equal(log.next(4)?.event, 'e');
  assert.equal(log.next(5), undefined);
  assert.equal(log.hasLost(1), true, 'events 2 was dropped before id 1 caught up');
  assert.equal(log.hasLost(2), false);
  assert.equal(log.next(0)?.id, 3, 'a cursor before the log gets the oldest it holds');
});

test('the event log drops events older than its age limit (fake clock) and continues ids after a restart', () => {
  let now = 1_000_000;
  const log = new EventLog<string>({ maxEntries: 100, maxAgeMs: 1000, lastId: 41, now: () => now });
  log.append('old');
  now += 600;
  log.append('newer');
  assert.deepEqual([log.oldestId, log.lastId, log.size], [42, 43, 2]);
  now += 500;
  assert.equal(log.oldestId, 43, 'the first one expired');
  assert.equal(log.hasLost(41), true);
  now += 1000;
  assert.equal(log.next(0), undefined);
  assert.equal(log.oldestId, 44);
  assert.equal(log.append('next').id, 44);
});

test('the event log compacts without losing order over many appends', () => {
  const log = new EventLog<number>({ maxEntries: 10, maxAgeMs: 0 });
  for (let i = 1; i <= 10_000; i++) log.append(i);
  const ids: number[] = [];
  for (let e = log.next(0); e; e = log.next(e.id)) ids.push(e.id);
  assert.deepEqual(ids, Array.from({ length: 10 }, (_, i) => 9991 + i));
});

test('image-generated messages are built once per event and shared, and rebuilt from disk after they fall out of the cache', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'framehub-wire-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new ImageStore({ dir, retentionMs: 0 });
  const log = new EventLog<GenerationEvent>({ maxEntries: 100, maxAgeMs: 0 });
  const generations = new Generations(log, store);
  const { job } = await generations.createJob({ prompt: 'p' });
  const a = await generations.addImage(job.id, await numberedPng(1, 64));
  const b = await generations.addImage(job.id, await numberedPng(2, 64));
  const size = (await new GenerationMessages(store).imageGenerated(a.entry)!).length;
  // Room for one message only.
  const wire = new GenerationMessages(store, size + 10);
  const first = await Promise.all([wire.imageGenerated(a.entry)!, wire.imageGenerated(a.entry)!, wire.imageGenerated(a.entry)!]);
  assert.equal(wire.imageBuilds, 1);
  assert.ok(first[0] === first[1] && first[1] === first[2], 'the same Buffer for every client');
  await wire.imageGenerated(b.entry);
  assert.equal(wire.imageBuilds, 2);
  const again = await wire.imageGenerated(a.entry)!;
  assert.equal(wire.imageBuilds, 3, 'evicted, so rebuilt');
  assert.deepEqual(again, first[0]);
  assert.equal(wire.envelope(a.entry), wire.envelope(a.entry));
  assert.equal(wire.imageGenerated(await generations.notify('info', 'x')), undefined);
});

test('imageGeneratedMessage splices base64 into valid JSON in the seed field order', () => {
  const text = imageGeneratedMessage(7, {
    mode: 'push', promptId: 'p"1', mimeType: 'image/png', imageInfo: { filename: 'a.png', subfolder: '', type: 'output' },
    params: { positivePrompt: 'quote " and \\', negativePrompt: '', seed: '1', width: 1, height: 1, workflowName: 'w' },
    imageIdx: 0, imageLength: 1, timestamp: 5,
  }, 'QUJD').toString();
  const parsed = JSON.parse(text);
  assert.equal(parsed.id, 7);
  assert.equal(parsed.data.base64Data, 'QUJD');
  assert.equal(parsed.data.promptId, 'p"1');
  assert.equal(parsed.data.params.positivePrompt, 'quote " and \\');
  assert.deepEqual(Object.keys(parsed.data), ['mode', 'promptId', 'base64Data', 'mimeType', 'imageInfo', 'params', 'imageIdx', 'imageLength', 'timestamp']);
});

test('the image store deletes images past their retention (fake clock) and reloads its index', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'framehub-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let now = 5_000_000;
  const store = new ImageStore({ dir, retentionMs: 60_000, maxImages: 2, now: () => now });
  const meta = (jobId: string, imageIdx: number) => ({
    jobId, userId: undefined, mimeType: 'image/png', filename: 'f.png', subfolder: '', type: 'output', imageIdx, imageLength: 3,
    params: { positivePrompt: 'p', negativePrompt: '', seed: '', width: 16, height: 16, workflowName: '' },
  });
  const png = await numberedPng(1);
  const one = await store.save(png, 'png', meta('job', 0));
  await store.recordEvent(one, 10);
  now += 50_000;
  const two = await store.save(png, 'png', meta('job', 1));
  await store.recordEvent(two, 11);
  const three = await store.save(png, 'png', meta('job', 2));
  await store.recordEvent(three, 12);
  assert.deepEqual(store.list(10).map((i) => i.name), [three.name, two.name], 'maxImages keeps the newest two');
  now += 20_000;
  await store.prune();
  assert.deepEqual(store.list(10).map((i) => i.name), [three.name, two.name], 'younger than 60 s: kept');
  now += 45_000;
  await store.prune();
  assert.deepEqual(store.list(10), []);
  assert.deepEqual(await readdir(dir), []);

  const four = await store.save(png, 'png', meta('job2', 0));
  await store.recordEvent(four, 13);
  const reloaded = new ImageStore({ dir, retentionMs: 60_000, now: () => now });
  assert.equal(await reloaded.load(), 13, 'the newest event id on disk');
  assert.deepEqual(reloaded.list(10).map((i) => [i.name, i.url]), [[four.name, `/images/${four.name}`]]);
});

test('after a restart on the same image directory, the gallery keeps its images and event ids continue', async (t) => {
  const first = await startGenServer();
  const { json: job } = await first.api('POST', '/api/generations', { prompt: 'before restart' });
  const { json: published } = await first.publishImage(job.job_id, await numberedPng(1));
  // Close the first server without removing the directory (its close() would).
  await first.server.close();
  const second = await startGenServer({ imageDir: first.imageDir });
  t.after(async () => { await second.close(); await rm(first.imageDir, { recursive: true, force: true }); });
  const { images } = await (await fetch(`${second.http}/api/images`)).json() as { images: any[] };
  assert.deepEqual(images.map((i) => i.prompt), ['before restart']);
  assert.equal((await fetch(second.http + published.image_url)).status, 200);
  const consumer = await new Consumer().connect(`${second.ws}/ws?since=${published.event_id}`);
  t.after(() => consumer.ws.terminate());
  await second.api('POST', '/api/notifications', { message: 'after restart' });
  await consumer.until(() => consumer.messages.length === 1, 'the new event');
  assert.equal(consumer.messages[0].id, published.event_id + 1, 'ids continue after the newest on disk');
});

test('three /ws/streaming consumers: each image message is built once, not once per client', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const consumers = await Promise.all([1, 2, 3].map(() => new Consumer().connect(`${srv.ws}/ws/streaming`)));
  t.after(() => consumers.forEach((c) => c.ws.terminate()));
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'shared' });
  for (let i = 0; i < 5; i++) await srv.publishImage(job.job_id, await numberedPng(i, 128));
  await Promise.all(consumers.map((c) => c.until(() => c.messages.length === 5, 'five images')));
  const { json: stats } = await srv.api('GET', '/api/generations/stats');
  assert.equal(stats.image_messages_built, 5);
  assert.equal(stats.consumers, 3);
});

test('describeGraph reads prompt, negative prompt, seed and size from an API-format graph', () => {
  assert.deepEqual(describeGraph(txt2imgGraph('sky', 'mud', 1234, 512, 768) as never), {
    prompt: 'sky', negativePrompt: 'mud', seed: '1234', width: 512, height: 768,
  });
  assert.deepEqual(describeGraph({}), { prompt: '', negativePrompt: '' });
});

test('PushSource emits pushed images only while started, with their sniffed format and size', async () => {
  const { PushSource } = await import('../src/sources/push-source.js');
  const sharp = (await import('sharp')).default;
  const source = new PushSource();
  const frames: { format: string; width: number; height: number }[] = [];
  source.on('frame', (frame) => frames.push(frame));
  const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  assert.equal(source.push(jpeg), true);
  assert.equal(frames.length, 0, 'nobody watching: dropped');
  await source.start();
  await source.start();
  assert.equal(source.push(jpeg), true);
  assert.equal(source.push(Buffer.from('nope')), false);
  assert.deepEqual(frames.map((f) => [f.format, f.width, f.height]), [['jpeg', 40, 30]]);
  await Promise.all([source.stop(), source.stop()]);
  source.push(jpeg);
  assert.equal(frames.length, 1);
  assert.deepEqual(source.counters, { pushed: 4, emitted: 1, rejected: 1 });
});
