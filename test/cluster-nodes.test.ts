import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import { WebSocket, type RawData } from 'ws';
import { startRedis } from './redis-server.js';
import { startServer, type TestServer } from './helpers.js';
import { postJson } from './session-helpers.js';
import { tempDir, type TestCleanup } from './temp-dir.js';
import { waitUntil, withTimeout } from './wait.js';
import { loadConfig, ConfigError } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import { decodeFrameMessage, encodeFrameMessage } from '../src/cluster/frame-message.js';
import { listenLocal } from './listen-local.js';
import { createServer as createTcpServer } from 'node:net';
import { createHash } from 'node:crypto';

// Two framehub nodes in this process over one real redis-server: the stream lease handed over
// when viewers leave, Socket.IO's adapter across nodes, and the single-node path untouched.

async function clusterNode(t: TestCleanup, redis: string, overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const server = await startServer({ redis, imageDir: await tempDir(t), ...overrides });
  t.after(() => server.close());
  return server;
}

/** A `/ws/video_feed` viewer counting frames; `next()` resolves on the next one. */
async function viewer(t: TestCleanup, server: TestServer): Promise<{ ws: WebSocket; next(): Promise<void> }> {
  const ws = new WebSocket(`${server.ws}/ws/video_feed`);
  ws.on('error', () => undefined);
  t.after(async () => ws.terminate());
  const waiting = new Set<() => void>();
  ws.on('message', (_data: RawData, isBinary: boolean) => {
    if (!isBinary) return;
    for (const resolve of waiting) resolve();
    waiting.clear();
  });
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('close', reject); }), 20_000, 'the viewer to connect');
  return { ws, next: () => withTimeout(new Promise<void>((resolve) => waiting.add(resolve)), 20_000, 'a frame') };
}

const role = (server: TestServer) => server.server.cluster!.source('demo')!.role;

describe('cluster nodes in one process', () => {
  it('runs a source only while some node has viewers, and hands it to a node that still has some', async (t) => {
    const redis = await startRedis(t);
    const a = await clusterNode(t, redis.url);
    const b = await clusterNode(t, redis.url);
    assert.equal(role(a), 'idle');
    assert.equal(role(b), 'idle');

    const onA = await viewer(t, a);
    await onA.next();
    assert.equal(role(a), 'owner');
    const onB = await viewer(t, b);
    await onB.next();
    assert.equal(role(b), 'follower');
    assert.equal((await b.server.cluster!.view()).streams['demo']!.owner, a.server.cluster!.node.id);

    // A's only viewer leaves: after its idle grace A stops the source and releases the lease; B takes it.
    onA.ws.close();
    await waitUntil(() => role(b), (r) => r === 'owner', { timeoutMs: 20_000, what: 'B taking the source over' });
    assert.equal(role(a), 'idle');
    await onB.next();
    await onB.next();
    assert.equal((await a.server.cluster!.view()).streams['demo']!.owner, b.server.cluster!.node.id);

    // Nobody watches: no node runs the source and nobody holds the lease.
    onB.ws.close();
    await waitUntil(() => a.server.cluster!.view(), (view) => view.streams['demo']!.owner === null, { timeoutMs: 20_000, what: 'the lease released' });
    // B released the lease inside its source's stop(); its stream records the stop right after.
    await waitUntil(() => [role(a), role(b), a.server.hub.resolve('demo')!.state, b.server.hub.resolve('demo')!.state].join(), (v) => v === 'idle,idle,stopped,stopped', { timeoutMs: 20_000, what: 'both nodes stopped' });
  });

  it('hands a stream over at once when its owner stops cleanly', async (t) => {
    const redis = await startRedis(t);
    const a = await clusterNode(t, redis.url);
    const b = await clusterNode(t, redis.url);
    await (await viewer(t, a)).next();
    const onB = await viewer(t, b);
    await onB.next();
    assert.equal(role(b), 'follower');
    await a.close();
    await waitUntil(() => role(b), (r) => r === 'owner', { timeoutMs: 20_000, what: 'B taking the source over' });
    await onB.next();
    const view = await b.server.cluster!.view();
    assert.deepEqual(view.nodes.map((n) => n.id), [b.server.cluster!.node.id], 'a stopped node leaves the list at once');
  });

  it('carries on when Redis restarts: the nodes reconnect, one source runs, the viewers get frames again', async (t) => {
    const redis = await startRedis(t);
    const a = await clusterNode(t, redis.url);
    const b = await clusterNode(t, redis.url);
    await (await viewer(t, a)).next();
    const onB = await viewer(t, b);
    await onB.next();
    assert.equal(role(b), 'follower');

    await redis.stop();
    // A restarted Redis has lost every key (no persistence here): the lease is gone too.
    await startRedis(t, redis.port);
    await waitUntil(async () => {
      // Until B's connection is back, the view fails: "The client is offline".
      const view = await b.server.cluster!.view().catch(() => undefined);
      if (!view) return false;
      const owners = [a, b].filter((node) => role(node) === 'owner');
      return owners.length === 1 && view.streams['demo']!.owner === owners[0]!.server.cluster!.node.id && view.nodes.length === 2;
    }, (settled) => settled, { timeoutMs: 30_000, what: 'both nodes back, one owner holding the lease' });
    await onB.next();
    await onB.next();
  });

  it('lists which node holds a browser session, on every node', async (t) => {
    const redis = await startRedis(t);
    const a = await clusterNode(t, redis.url);
    const b = await clusterNode(t, redis.url);
    const created = await postJson(`${a.http}/api/session/create`, { session_id: 'held-by-a', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const idA = a.server.cluster!.node.id;
    const seen = await waitUntil(() => b.server.cluster!.view(), (view) => view.sessions['held-by-a'] === idA, { timeoutMs: 20_000, what: "B's view naming A as the session's node" });
    assert.deepEqual(seen.nodes.find((n) => n.id === idA)!.sessions, ['held-by-a']);
    assert.deepEqual(seen.nodes.find((n) => n.id === b.server.cluster!.node.id)!.sessions, []);
    // Deleted on A: gone from the cluster's view with A's next heartbeat.
    assert.equal((await fetch(`${a.http}/api/session/held-by-a`, { method: 'DELETE' })).status, 200);
    await waitUntil(() => b.server.cluster!.view(), (view) => !('held-by-a' in view.sessions), { timeoutMs: 20_000, what: 'the session gone from the view' });
  });

  it('names each session\'s owner on every node; only the owner (or admin) reaches it, on every node', async (t) => {
    const owner = 'cluster-owner-token-0123456789';
    const other = 'cluster-other-token-0123456789';
    const admin = 'cluster-admin-token-0123456789';
    const redis = await startRedis(t);
    const tokens = { accessTokens: `${owner}=control; ${other}=control; ${admin}=admin` };
    const a = await clusterNode(t, redis.url, tokens);
    const b = await clusterNode(t, redis.url, tokens);
    const call = async (server: TestServer, method: string, path: string, token: string, body?: unknown) => {
      const response = await fetch(server.http + path, {
        method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }), signal: AbortSignal.timeout(30_000),
      });
      return { status: response.status, body: await response.json() as any };
    };
    const created = await call(a, 'POST', '/api/session/create', owner, { session_id: 'owned-on-a', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ownerName = `token:${createHash('sha256').update(owner).digest('hex').slice(0, 12)}`;
    const seen = await waitUntil(() => b.server.cluster!.view(), (view) => view.sessionOwners['owned-on-a'] !== undefined, { timeoutMs: 20_000, what: "B's view naming the session's owner" });
    assert.equal(seen.sessionOwners['owned-on-a'], ownerName);
    assert.deepEqual(seen.nodes.find((n) => n.id === a.server.cluster!.node.id)!.sessionOwners, { 'owned-on-a': ownerName });
    const unknown = { status: 404, body: { success: false, error: 'no session "owned-on-a"' } };
    assert.deepEqual(await call(a, 'POST', '/api/session/owned-on-a/keepalive', other), unknown, 'another owner, on the session\'s node');
    assert.deepEqual(await call(b, 'POST', '/api/session/owned-on-a/keepalive', other), unknown, 'another owner, on a node that does not run it');
    // The owner reaches it through B too: B forwards the call to A (cluster-sessions.test.ts has the rest).
    assert.equal((await call(b, 'POST', '/api/session/owned-on-a/keepalive', owner)).status, 200);
    assert.equal((await call(a, 'POST', '/api/session/owned-on-a/keepalive', owner)).status, 200);
    assert.equal((await call(a, 'DELETE', '/api/session/owned-on-a', admin)).status, 200);
  });

  it('shares Socket.IO across nodes through the Redis Streams adapter', async (t) => {
    const redis = await startRedis(t);
    const a = await clusterNode(t, redis.url);
    const b = await clusterNode(t, redis.url);
    const sockets: Socket[] = [];
    t.after(() => { for (const socket of sockets) socket.disconnect(); });
    for (const server of [a, b, b]) {
      const socket = connect(server.http, { transports: ['websocket'], reconnection: false });
      sockets.push(socket);
      await withTimeout(new Promise<unknown>((resolve, reject) => { socket.once('connect', () => resolve(undefined)); socket.once('connect_error', reject); }), 20_000, 'a Socket.IO connection');
    }
    // fetchSockets() on A asks every node: A's own socket and B's two.
    const all = await waitUntil(() => a.server.io.fetchSockets(), (found) => found.length === 3, { timeoutMs: 20_000, what: "A seeing B's sockets" });
    assert.deepEqual(all.map((s) => s.id).sort(), sockets.map((s) => s.id!).sort());
    // A broadcast from B reaches the client on A.
    const heard = withTimeout(new Promise((resolve) => sockets[0]!.once('cluster:test', (payload: unknown) => resolve(payload))), 20_000, 'the broadcast on A');
    b.server.io.emit('cluster:test', { from: 'B' });
    assert.deepEqual(await heard, { from: 'B' });
  });

  it('is a single node without REDIS_URL: no cluster, no /api/cluster', async (t) => {
    const server = await startServer({ imageDir: await tempDir(t) });
    t.after(() => server.close());
    assert.equal(server.server.cluster, undefined);
    assert.equal((await fetch(`${server.http}/api/cluster`)).status, 404);
  });

  it('refuses a REDIS_URL that is not a redis:// URL, and a Redis it cannot reach', async (t) => {
    assert.throws(() => loadConfig({ env: { REDIS_URL: 'http://127.0.0.1:6379' } }), (error: Error) => error instanceof ConfigError && /REDIS_URL must be a redis:\/\//.test(error.message));
    assert.equal(loadConfig({ flags: { redis: 'redis://127.0.0.1:1' } }).redis, 'redis://127.0.0.1:1');
    // A port nothing listens on.
    const probe = createTcpServer();
    const port = await listenLocal(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const config = loadConfig({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', redis: `redis://127.0.0.1:${port}`, imageDir: await tempDir(t) } });
    await assert.rejects(createServer(config), /redis at redis:\/\/127\.0\.0\.1:\d+\/? not reachable/);
  });
});

describe('frame messages (a frame as it crosses Redis)', () => {
  it('carries the bytes and the header unchanged', () => {
    const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const frame = { bytes, format: 'jpeg' as const, width: 320, height: 180, capturedAt: 1234.5, quality: 80, meta: { label: 'x' } };
    const decoded = decodeFrameMessage(encodeFrameMessage(frame));
    assert.deepEqual(decoded, frame);
  });

  it('answers undefined for anything else', () => {
    const header = (value: unknown) => {
      const json = Buffer.from(JSON.stringify(value));
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(json.length);
      return Buffer.concat([prefix, json, Buffer.from([1, 2])]);
    };
    for (const message of [
      Buffer.alloc(0), Buffer.from([0, 0]), Buffer.from([0xff, 0xff, 0xff, 0xff, 1]), Buffer.from([0, 0, 0, 2, 0x7b, 0x7b]),
      header(null), header([1]), header({ format: 'bmp', width: 1, height: 1, capturedAt: 1 }),
      header({ format: 'png', width: 0, height: 1, capturedAt: 1 }), header({ format: 'png', width: 1, height: 1 }),
      header({ format: 'toString', width: 1, height: 1, capturedAt: 1 }),
    ]) {
      assert.equal(decodeFrameMessage(message), undefined, message.toString('hex'));
    }
  });
});
