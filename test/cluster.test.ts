import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, type RawData } from 'ws';
import { startRedis } from './redis-server.js';
import { killHard, type ServerProcess } from './server-process.js';
import type { TestCleanup } from './temp-dir.js';
import { waitUntil, withTimeout } from './wait.js';
import type { ClusterView } from '../src/cluster/cluster.js';
import { clusterNode, clusterView } from './cluster-viewer.js';

// Several `framehub serve` processes over one real redis-server (npm run build first: they run
// from dist/). The demo stream is the pattern source every node could run; the lease decides
// which one does.

const node = (t: TestCleanup, redisUrl: string) => clusterNode(t, redisUrl);

/** A `/ws/video_feed` viewer that counts the JPEG frames it receives. */
interface Viewer {
  readonly ws: WebSocket;
  frames: number;
  /** Resolves with the arrival time of the next frame. */
  nextFrame(ms?: number): Promise<number>;
}

async function viewer(t: TestCleanup, server: ServerProcess): Promise<Viewer> {
  const ws = new WebSocket(`${server.ws}/ws/video_feed`);
  ws.on('error', () => undefined); // a killed node's viewers see their socket end; the test asserts on frames
  t.after(async () => ws.terminate());
  const waiting = new Set<(at: number) => void>();
  const state: Viewer = {
    ws,
    frames: 0,
    nextFrame: (ms = 20_000) => withTimeout(new Promise<number>((resolve) => waiting.add(resolve)), ms, 'a frame'),
  };
  ws.on('message', (_data: RawData, isBinary: boolean) => {
    if (!isBinary) return;
    state.frames++;
    const at = performance.now();
    for (const resolve of waiting) resolve(at);
    waiting.clear();
  });
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('close', reject); }), 20_000, 'the viewer to connect');
  return state;
}

const roleOf = (view: ClusterView, nodeId: string, stream: string) => view.nodes.find((n) => n.id === nodeId)?.streams.find((s) => s.id === stream)?.role;

describe('cluster (REDIS_URL): several nodes over one Redis', () => {
  it('lists its nodes, runs a source on one node, serves it from the others, and moves it when the owner is killed', async (t) => {
    const redis = await startRedis(t);
    const a = await node(t, redis.url);
    const b = await node(t, redis.url);
    const c = await node(t, redis.url);

    // Every node lists the three nodes.
    const both = await waitUntil(() => clusterView(b), (view) => view.nodes.length === 3, { timeoutMs: 20_000, what: 'the three nodes listed' });
    const idA = (await clusterView(a)).node;
    const idB = both.node;
    const idC = (await clusterView(c)).node;
    assert.equal(new Set([idA, idB, idC]).size, 3);
    assert.deepEqual(both.nodes.map((n) => n.id).sort(), [idA, idB, idC].sort());
    for (const n of both.nodes) {
      assert.match(n.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(typeof n.cpu, 'number');
      assert.ok(n.rss > 0);
    }
    assert.deepEqual(both.streams, { demo: { owner: null, viewers: 0 } }, 'no source runs while nobody watches');

    // A viewer on A: A takes the lease and runs the source.
    const onA = await viewer(t, a);
    await onA.nextFrame();
    await waitUntil(() => clusterView(a), (view) => view.streams['demo']?.owner === idA, { timeoutMs: 20_000, what: 'A owning demo' });

    // Two viewers on B: B gets the frames through Redis, once for both, and runs no source.
    const onB1 = await viewer(t, b);
    const onB2 = await viewer(t, b);
    await onB1.nextFrame();
    await onB2.nextFrame();
    const onC = await viewer(t, c);
    await onC.nextFrame();
    const served = await waitUntil(() => clusterView(c), (view) => roleOf(view, idB, 'demo') === 'follower' && roleOf(view, idC, 'demo') === 'follower' && view.streams['demo']?.viewers === 4, { timeoutMs: 20_000, what: 'B and C following demo with 4 viewers in all' });
    assert.equal(served.streams['demo']?.owner, idA);
    assert.equal(roleOf(served, idA, 'demo'), 'owner');
    assert.equal(served.nodes.filter((n) => n.streams.some((s) => s.id === 'demo' && s.role === 'owner')).length, 1, 'one source in the cluster');
    // Frames cross Redis once per source frame: B received about what A published, not twice that for two viewers.
    const counts = await waitUntil(() => clusterView(b), (view) => (view.nodes.find((n) => n.id === idB)?.streams[0]?.received ?? 0) >= 20, { timeoutMs: 20_000, what: 'B receiving frames' });
    const bReport = counts.nodes.find((n) => n.id === idB)!;
    const received = bReport.streams[0]!.received;
    // Each node's counts are as of its last heartbeat: compare with one of A's taken well after B's.
    const later = await waitUntil(() => clusterView(b), (view) => (view.nodes.find((n) => n.id === idA)?.updatedAt ?? 0) > bReport.updatedAt + 200, { timeoutMs: 20_000, what: "A's next heartbeat" });
    const published = later.nodes.find((n) => n.id === idA)!.streams[0]!.published;
    assert.ok(received <= published, `B received ${received} frames for ${published} published: at most once each`);
    assert.ok(received >= 20);

    // The owner dies without a word: B or C takes the source over, and the viewers on both resume within 3 s.
    const killedAt = performance.now();
    await killHard(a);
    const taken = await waitUntil(() => clusterView(b), (view) => [idB, idC].includes(view.streams['demo']?.owner ?? ''), { timeoutMs: 20_000, intervalMs: 50, what: 'B or C taking demo over' });
    // Every frame from here on comes from the new owner's source (A's lease has expired).
    const resumed = await Promise.all([onB1.nextFrame(), onB2.nextFrame(), onC.nextFrame()]);
    const pause = Math.max(...resumed) - killedAt;
    t.diagnostic(`frames resumed on both surviving nodes ${Math.round(pause)} ms after the owner was killed`);
    assert.ok(pause < 3_000, `frames resumed ${Math.round(pause)} ms after the owner was killed`);
    const newOwner = taken.streams['demo']!.owner!;
    const follower = newOwner === idB ? idC : idB;
    await waitUntil(() => clusterView(c), (view) => roleOf(view, newOwner, 'demo') === 'owner' && roleOf(view, follower, 'demo') === 'follower', { timeoutMs: 20_000, what: 'one owner and one follower reported' });

    // The dead node's heartbeat expires: it leaves the list by itself.
    await waitUntil(() => clusterView(b), (view) => view.nodes.length === 2 && !view.nodes.some((n) => n.id === idA), { timeoutMs: 20_000, what: 'A gone from the list' });
  });
});
