import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { Consumer, PRODUCER_TOKEN, numberedPng, sha } from './generations-helpers.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { killHard, serveImages, signalAndWait, type ServerProcess } from './server-process.js';
import { tempDir, type TestCleanup } from './temp-dir.js';
import { nextEvent, waitUntil } from './wait.js';
import { closeRedis, connectRedis } from '../src/cluster/redis-connection.js';
import { RedisEventLog } from '../src/cluster/generation-log.js';
import { GENERATION_EVENTS_KEY } from '../src/cluster/keys.js';
import { EventLog } from '../src/generations/event-log.js';
import type { GenerationEvent, JobInfo } from '../src/generations/generation-event.js';
import { GenerationError } from '../src/generations/generation-error.js';
import { ImageStore } from '../src/generations/image-store.js';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

// Three `framehub serve` processes over one real redis-server and one shared IMAGE_DIR
// (docs/cluster.md): the replay log is a Redis Stream every node follows, images are files every
// node reads. Run `npm run build` first: the nodes run from dist/.

interface Answer {
  status: number;
  json: any;
}

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<Answer> {
  const isImage = Buffer.isBuffer(body);
  const response = await fetch(server.http + path, {
    method,
    headers: { authorization: `Bearer ${PRODUCER_TOKEN}`, ...(body !== undefined && { 'content-type': isImage ? 'image/png' : 'application/json' }) },
    ...(body !== undefined && { body: isImage ? new Uint8Array(body) : JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, json: await response.json() };
}

/** Three nodes on one Redis and one image directory, started side by side. */
async function threeNodes(t: TestCleanup, redis: RedisServer, dir: string): Promise<[ServerProcess, ServerProcess, ServerProcess]> {
  const start = () => serveImages(t, dir, ['--redis', redis.url]);
  const [a, b, c] = await Promise.all([start(), start(), start()]);
  return [a, b, c];
}

async function createJob(server: ServerProcess, jobId: string): Promise<number> {
  const job = await api(server, 'POST', '/api/generations', { prompt: `cluster ${jobId}`, job_id: jobId });
  assert.equal(job.status, 201, JSON.stringify(job.json));
  return job.json.event_id as number;
}

/**
 * Publishes `images` of a job one after another through `target()` (asked before each image, so
 * a test can move the producer to another node). An image is retried while it is refused with
 * 500/503 or its request fails (a node or Redis gone), up to `deadlineMs`; a 409 on a retry means
 * an earlier attempt was stored after all (its answer was lost). `acked` holds the answers.
 */
function producer(target: () => ServerProcess, jobId: string, images: Buffer[], deadlineMs = 60_000) {
  const progress = new EventEmitter();
  const acked = new Map<number, { eventId: number; url: string }>();
  const landedUnanswered: number[] = [];
  let attempts = 0;
  let failures = 0;
  const done = (async () => {
    for (let i = 0; i < images.length; i++) {
      const deadline = Date.now() + deadlineMs;
      for (let retry = false; ; retry = true) {
        attempts++;
        const answer = await api(target(), 'POST', `/api/generations/${jobId}/images?imageIdx=${i}&imageLength=${images.length}&filename=c_${i}.png`, images[i])
          .catch((error: Error): Answer => ({ status: 0, json: error.message }));
        if (answer.status === 201) {
          acked.set(i, { eventId: answer.json.event_id, url: answer.json.image_url });
          break;
        }
        if (answer.status !== 201) failures++;
        if (answer.status === 409 && retry && answer.json.error === 'duplicate_image') {
          landedUnanswered.push(i);
          break;
        }
        if (![0, 500, 503].includes(answer.status) || Date.now() > deadline) {
          throw new Error(`image ${i}: ${answer.status} ${JSON.stringify(answer.json)}`);
        }
        // Polling for a node or Redis to be back: nothing the test could wait on announces it.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      progress.emit('published', acked.size + landedUnanswered.length);
    }
  })();
  return {
    done,
    acked,
    landedUnanswered,
    get attempts() { return attempts; },
    /** Attempts refused or failed (a node or Redis away). */
    get failures() { return failures; },
    get published() { return acked.size + landedUnanswered.length; },
    async atLeast(n: number) {
      while (acked.size + landedUnanswered.length < Math.min(n, images.length)) await Promise.race([once(progress, 'published'), done]);
    },
  };
}

/** `image-generated` messages of one job, from consumers that took turns: ids strictly increasing, each image once. */
function checkDelivery(messages: any[], images: Buffer[], jobId: string): number[] {
  const mine = messages.filter((m) => m.type === 'image-generated' && m.data.promptId === jobId);
  const ids = mine.map((m) => m.id as number);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids in order, none twice: ${ids.join(',')}`);
  assert.deepEqual(mine.map((m) => m.data.imageIdx), images.map((_, i) => i), 'every image once, in publishing order');
  mine.forEach((m, i) => assert.equal(sha(Buffer.from(m.data.base64Data, 'base64')), sha(images[i]!), `bytes of image ${i}`));
  return ids;
}

async function fetchBytes(server: ServerProcess, url: string): Promise<{ status: number; bytes: Buffer }> {
  const response = await fetch(server.http + url, { signal: AbortSignal.timeout(30_000) });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** Resolves once `log` holds event `id` (its append event, or at once when it does already). */
async function reaches(log: EventLog<GenerationEvent>, id: number): Promise<void> {
  if (log.lastId >= id) return;
  await nextEvent(log, 'append', (entry) => entry.id >= id);
}

describe('generations in a cluster (three framehub processes, one redis-server)', () => {
  it('100 images published through A while a consumer on B is killed and moved to C mid-way: all 100 arrive once and in order, and every node serves them', async (t) => {
    const redis = await startRedis(t);
    const dir = await tempDir(t);
    const [a, b, c] = await threeNodes(t, redis, dir);
    const images = await Promise.all(Array.from({ length: 100 }, (_, i) => numberedPng(i + 1)));
    const since = await createJob(a, 'moving-1');

    const onB = await new Consumer().connect(`${b.ws}/ws/streaming?since=${since}`);
    const envelopes = await new Consumer().connect(`${c.ws}/ws?since=${since}`);
    const publishing = producer(() => a, 'moving-1', images);
    await onB.until(() => onB.messages.length >= 30, '30 images on B');
    onB.kill();
    const lastSeen = onB.messages.at(-1).id as number;
    // Gone for a while: images go on being published through A meanwhile.
    await publishing.atLeast(Math.min(onB.messages.length + 20, 90));
    assert.ok(publishing.published < images.length, 'the consumer moves while images are still being published');
    const onC = await new Consumer().connect(`${c.ws}/ws/streaming?since=${lastSeen}`);
    await publishing.done;
    await onC.until(() => onB.messages.length + onC.messages.length >= images.length, 'the other images on C');

    const ids = checkDelivery([...onB.messages, ...onC.messages], images, 'moving-1');
    assert.deepEqual(ids, images.map((_, i) => publishing.acked.get(i)!.eventId), 'the ids the producer was answered with');
    // /ws on C carried the same ids (from another node than the one they were published to).
    await envelopes.until(() => envelopes.messages.filter((m) => m.type === 'image.generation.completed').length >= images.length, '100 envelopes on C');
    assert.deepEqual(envelopes.messages.filter((m) => m.type === 'image.generation.completed').map((m) => m.id), ids);

    // Every node serves every image at its image_url, and lists it in the gallery.
    for (const server of [a, b, c]) {
      for (const i of [0, 29, 30, 99]) {
        const { status, bytes } = await fetchBytes(server, publishing.acked.get(i)!.url);
        assert.equal(status, 200, `image ${i} on ${server.http}`);
        assert.equal(sha(bytes), sha(images[i]!));
      }
      const gallery = await api(server, 'GET', '/api/images?limit=1000');
      assert.equal(gallery.json.total, images.length, `gallery of ${server.http}`);
    }
    const stats = (await api(c, 'GET', '/api/generations/stats')).json;
    assert.equal(stats.last_event_id, ids.at(-1));
    assert.equal(stats.cluster_events.lost, 0);
    assert.equal(stats.cluster_events.applied, images.length + 1, 'the job and its images, taken from Redis by C');
    // A job created on A is known on C: its next image is refused there as a duplicate, not as an unknown job.
    const again = await api(c, 'POST', '/api/generations/moving-1/images?imageIdx=5&imageLength=100', images[5]);
    assert.equal(again.status, 409);
  });

  it('a node killed with kill -9 loses nothing it acknowledged: its consumer moves to B, the producer to C, the job goes on; a node started afterwards replays it all', async (t) => {
    const redis = await startRedis(t);
    const dir = await tempDir(t);
    const [a, b, c] = await threeNodes(t, redis, dir);
    const images = await Promise.all(Array.from({ length: 40 }, (_, i) => numberedPng(500 + i)));
    const since = await createJob(a, 'killed-1');
    const onA = await new Consumer().connect(`${a.ws}/ws/streaming?since=${since}`);
    onA.ws.on('error', () => undefined);
    const onC = await new Consumer().connect(`${c.ws}/ws/streaming?since=${since}`);

    let target = a;
    const publishing = producer(() => target, 'killed-1', images);
    await publishing.atLeast(15);
    // Killed while the producer keeps publishing: the request under way may or may not have landed.
    target = c;
    await killHard(a);
    const lastOnA = (onA.messages.at(-1)?.id as number | undefined) ?? since;
    const movedToB = await new Consumer().connect(`${b.ws}/ws/streaming?since=${lastOnA}`);
    await publishing.done;

    await onC.until(() => onC.messages.length >= images.length, 'every image on C');
    const ids = checkDelivery(onC.messages, images, 'killed-1');
    for (const [i, { eventId }] of publishing.acked) assert.equal(ids[i], eventId, `acknowledged image ${i} delivered with its id`);
    await movedToB.until(() => onA.messages.length + movedToB.messages.length >= images.length, 'the rest on B');
    assert.deepEqual(checkDelivery([...onA.messages, ...movedToB.messages], images, 'killed-1'), ids, 'the moved consumer got the same, once, in order');
    for (const i of [0, 14, 39]) {
      const { status, bytes } = await fetchBytes(b, publishing.acked.get(i)?.url ?? `/images/killed-1-${i}.png`);
      assert.equal(status, 200, `image ${i} on B`);
      assert.equal(sha(bytes), sha(images[i]!));
    }

    // A node started now (A's replacement) loads the events from Redis and the images from the directory.
    const d = await serveImages(t, dir, ['--redis', redis.url]);
    const onD = await new Consumer().connect(`${d.ws}/ws/streaming?since=${since}`);
    await onD.until(() => onD.messages.length >= images.length, 'the replay on a node started after the events');
    assert.deepEqual(checkDelivery(onD.messages, images, 'killed-1'), ids);
    assert.equal((await api(d, 'GET', '/api/images?limit=1000')).json.total, images.length, "the new node's gallery");
  });

  it('Redis restarted under load (append-only file, fsync always): the nodes reconnect, every acknowledged image arrives once and in order', async (t) => {
    const aof = await tempDir(t);
    const redis = await startRedis(t, undefined, { aofDir: aof });
    const dir = await tempDir(t);
    const [a, b, c] = await threeNodes(t, redis, dir);
    const images = await Promise.all(Array.from({ length: 40 }, (_, i) => numberedPng(900 + i)));
    const since = await createJob(a, 'redis-1');
    const onB = await new Consumer().connect(`${b.ws}/ws/streaming?since=${since}`);

    const publishing = producer(() => a, 'redis-1', images);
    await publishing.atLeast(12);
    await redis.stop(); // SIGKILL: no shutdown save, only what the append-only file synced
    await startRedis(t, redis.port, { aofDir: aof });
    await publishing.done;
    assert.ok(publishing.failures > 0, 'publishes were refused while Redis was away (the restart happened under load)');

    // B's consumer never reconnected: B's follower did, and read on from where it was.
    await onB.until(() => onB.messages.length >= images.length, 'every image on B');
    const ids = checkDelivery(onB.messages, images, 'redis-1');
    for (const [i, { eventId }] of publishing.acked) assert.equal(ids[i], eventId, `acknowledged image ${i} delivered with its id`);
    // A consumer arriving on C now replays the whole job from C's log.
    const late = await new Consumer().connect(`${c.ws}/ws/streaming?since=${since}`);
    await late.until(() => late.messages.length >= images.length, 'the replay on C');
    assert.deepEqual(checkDelivery(late.messages, images, 'redis-1'), ids);
  });

  it('Redis restarted without persistence: ids never go back, events already delivered stay replayable', async (t) => {
    const redis = await startRedis(t);
    const dir = await tempDir(t);
    const [a, b, c] = await threeNodes(t, redis, dir);
    const images = await Promise.all(Array.from({ length: 6 }, (_, i) => numberedPng(1200 + i)));
    const since = await createJob(a, 'amnesia-1');
    const onB = await new Consumer().connect(`${b.ws}/ws/streaming?since=${since}`);
    const first = producer(() => a, 'amnesia-1', images.slice(0, 3));
    await first.done;
    await onB.until(() => onB.messages.length >= 3, 'the first three on B');

    await redis.stop();
    await startRedis(t, redis.port); // empty: the stream and the id counter are gone
    // Published through C, which never published before: ids continue after what the nodes hold.
    const rest = await waitUntil(
      () => api(c, 'POST', '/api/generations/amnesia-1/images?imageIdx=3&imageLength=6', images[3]).catch((): Answer => ({ status: 0, json: null })),
      (answer) => answer.status === 201,
      { timeoutMs: 30_000, intervalMs: 100, what: 'a publish through C after the restart' },
    );
    assert.ok(rest.json.event_id > first.acked.get(2)!.eventId, `id ${rest.json.event_id} after ${first.acked.get(2)!.eventId}`);
    await onB.until(() => onB.messages.length >= 4, 'the image published after the restart, on B');
    assert.deepEqual(onB.messages.map((m) => m.data.imageIdx), [0, 1, 2, 3]);
    // A's log still holds what it received before: a consumer there replays all four.
    const onA = await new Consumer().connect(`${a.ws}/ws/streaming?since=${since}`);
    await onA.until(() => onA.messages.length >= 4, 'the replay on A');
    assert.deepEqual(onA.messages.map((m) => m.id), onB.messages.map((m) => m.id));

    // A clean stop does not wait on the follower's blocked XREAD.
    const stopped = await signalAndWait(b, 'SIGTERM');
    assert.equal(stopped.code, 0, b.output().slice(-2000));
    assert.ok(stopped.ms < 10_000, `stopped in ${Math.round(stopped.ms)} ms`);
  });
});

const quiet = { warn: () => undefined, info: () => undefined };

/** A RedisEventLog of this process over `url`, as a node makes it, closed when the test ends. */
async function eventLog(t: TestCleanup, url: string, maxEntries = 100) {
  const redis = await connectRedis(url, quiet, 'test');
  const reader = await connectRedis(url, quiet, 'test-reader');
  const log = new EventLog<GenerationEvent>({ maxEntries, maxAgeMs: 0 });
  const warnings: string[] = [];
  const events = new RedisEventLog({ redis, reader, log, prepare: async (entry) => entry, warn: (_object, message) => warnings.push(message) });
  t.after(async () => {
    await events.close();
    await closeRedis(redis);
  });
  await events.load();
  return { events, log, redis, warnings };
}

const job = (id: string): JobInfo => ({ id, userId: undefined, prompt: 'p', negativePrompt: '', seed: '', width: undefined, height: undefined, workflow: '', createdAt: 0 });
const note = (message: string): GenerationEvent => ({ kind: 'notification', severity: 'info', message, actionUrl: undefined });

describe('the cluster event log (RedisEventLog, in this process, on a real redis-server)', () => {
  it('gives ids from Redis in one order on every node; a job id is taken once across nodes', async (t) => {
    const redis = await startRedis(t);
    const x = await eventLog(t, redis.url);
    const y = await eventLog(t, redis.url);
    x.events.follow();
    y.events.follow();
    const answers = await Promise.all([x.events.append(note('x1')), y.events.append(note('y1')), x.events.append(note('x2')), y.events.append({ kind: 'started', job: job('j') })]);
    assert.deepEqual(answers.map((e) => e.id).sort((p, q) => p - q), [1, 2, 3, 4]);
    await assert.rejects(x.events.append({ kind: 'started', job: job('j') }), (error: Error) => error instanceof GenerationError && error.code === 'job_exists');
    await Promise.all([reaches(x.log, 4), reaches(y.log, 4)]);
    assert.deepEqual([x.log.lastId, y.log.lastId], [4, 4]);
    const ids = (l: EventLog<GenerationEvent>) => [...l.newest()].reverse().map((e) => `${e.id}:${e.event.kind === 'notification' ? e.event.message : e.event.kind}`);
    assert.deepEqual(ids(x.log), ids(y.log), 'the same events with the same ids on both nodes');
  });

  it('keeps the stream bounded by REPLAY_SIZE (MAXLEN ~: whole blocks of 100 entries go) and the local log at REPLAY_SIZE', async (t) => {
    const redis = await startRedis(t);
    const x = await eventLog(t, redis.url, 10);
    x.events.follow();
    for (let i = 0; i < 250; i++) await x.events.append(note(`n${i}`));
    const length = await x.redis.xLen(GENERATION_EVENTS_KEY);
    assert.ok(length >= 10 && length <= 110, `${length} entries in the stream`);
    assert.equal(x.log.size, 10);
    assert.equal(x.log.lastId, 250);
  });

  it('skips entries that are not framehub events, and answers a replay gap for events a node can no longer read', async (t) => {
    const redis = await startRedis(t);
    const writer = await eventLog(t, redis.url);
    writer.events.follow();
    const late = await eventLog(t, redis.url); // loaded the empty stream, not following yet
    for (let i = 1; i <= 5; i++) await writer.events.append(note(`n${i}`));
    // Another application's entry (with an id ahead of Redis's clock, which the next append must
    // pass), and events 1-3 trimmed before the late node read them.
    await writer.redis.xAdd(GENERATION_EVENTS_KEY, `${Date.now() + 60_000}-0`, { event: '{"kind":"toString"}' });
    await writer.redis.xTrim(GENERATION_EVENTS_KEY, 'MAXLEN', 3);
    await writer.events.append(note('n6'));
    late.events.follow();
    await reaches(late.log, 6);
    assert.equal(late.log.lastId, 6);
    assert.deepEqual([...late.log.newest()].map((e) => e.id), [6, 5, 4]);
    assert.equal(late.log.hasLost(0), true, 'a consumer at 0 gets a replay gap');
    assert.deepEqual(late.events.stats(), { applied: 3, skipped: 1, lost: 3 });
    assert.equal(writer.log.lastId, 6);
  });
});

describe('the image store in a directory shared by nodes', () => {
  it('never lets one node replace another node\'s image of the same name; another node indexes it from its event', async (t) => {
    const dir = await tempDir(t);
    const a = new ImageStore({ dir, retentionMs: 0, shared: true });
    const b = new ImageStore({ dir, retentionMs: 0, shared: true });
    const meta = { jobId: 'same', userId: undefined, mimeType: 'image/png', filename: 'x.png', subfolder: '', type: 'output', params: { positivePrompt: '', negativePrompt: '', seed: '', width: 16, height: 16, workflowName: '' }, imageIdx: 0, imageLength: 1 };
    const [one, two] = await Promise.all([numberedPng(1), numberedPng(2)]);
    const [fromA, fromB] = await Promise.all([a.save(one, 'png', meta), b.save(two, 'png', meta)]);
    assert.notEqual(fromA.name, fromB.name);
    assert.equal(sha(await readFile(join(dir, fromA.name))), sha(one));
    assert.equal(sha(await readFile(join(dir, fromB.name))), sha(two));
    assert.deepEqual((await readdir(dir)).filter((name) => name.endsWith('.part')), [], 'no temp file left');
    // B learns of A's image from its event: indexed without writing A's sidecar, then served.
    const adopted = await b.adopt(fromA, 7, { record: false });
    assert.ok(adopted);
    assert.equal(sha(await b.read(adopted)), sha(one));
    assert.deepEqual(b.list(10).map((image) => image.name).sort(), [fromA.name, fromB.name].sort());
    assert.equal(await b.adopt({ ...fromA, name: '../escape.png' }, 8, { record: false }), undefined, 'a name that leaves the directory is refused');
  });
});
