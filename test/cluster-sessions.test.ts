import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import { WebSocket, type RawData } from 'ws';
import { ADMIN, call, node, OWNER, STRANGER } from './cluster-session-helpers.js';
import { startRedis } from './redis-server.js';
import { killHard, type ServerProcess } from './server-process.js';
import { BLUE, frameOfColour, near, pixelAt, RED, startPageServer } from './session-helpers.js';
import type { TestCleanup } from './temp-dir.js';
import { nextEvent, waitUntil, withTimeout } from './wait.js';
import { execFileSync } from 'node:child_process';
import { Prng } from '../fuzz/prng.js';
import { anyValue, badInt, deepValue, invalidJson, notAnObject, weirdStringJson } from '../fuzz/hostile-values.js';

// Browser sessions in a cluster: three `framehub serve` processes over one real redis-server
// (npm run build first: they run from dist/), a real Chromium on the node that runs the session,
// and its frames, REST calls and input reaching it through the other nodes.

function socketOn(t: TestCleanup, server: ServerProcess, token: string): Socket {
  const socket = connect(server.http, { auth: { token }, transports: ['websocket'], reconnection: false });
  t.after(async () => {
    socket.disconnect();
  });
  return socket;
}

/** A WebSocket frame route's viewer; resolves with its first image: a binary message, or a seeds/002 JSON `frame`'s data URL. */
async function firstImage(t: TestCleanup, url: string): Promise<Buffer> {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  t.after(async () => ws.terminate());
  return withTimeout(new Promise<Buffer>((resolve, reject) => {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return resolve(jpegIn(data as Buffer));
      const message = JSON.parse(data.toString()) as { type?: string; data?: { data_url?: string } };
      const dataUrl = message.data?.data_url;
      if (message.type === 'frame' && typeof dataUrl === 'string') resolve(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
    });
    ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
  }), 30_000, `a frame on ${url.replace(/token=[^&]+/, 'token=…')}`);
}

/** The JPEG in a binary frame message (a small header may precede it). */
function jpegIn(message: Buffer): Buffer {
  const start = message.indexOf(Buffer.from([0xff, 0xd8, 0xff]));
  assert.ok(start >= 0, 'a JPEG in the message');
  return message.subarray(start);
}

/** Subscribes `socket` to a session; resolves with the `subscribed` answer or rejects with the `error` one. */
async function subscribe(socket: Socket, sessionId: string, name?: string): Promise<any> {
  const answer = await socket.timeout(20_000).emitWithAck('subscribe', { session_id: sessionId, ...(name !== undefined && { name }) });
  if (answer?.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
  return answer;
}

/**
 * The latest payload of each event `socket` got, and a wait for one that matches: the one got
 * already, or the next. Set up before subscribing, so that nothing sent on subscribe is missed.
 */
function recorder(socket: Socket) {
  const last = new Map<string, any>();
  socket.onAny((event: string, payload: unknown) => last.set(event, payload));
  return {
    async until<T = any>(event: string, predicate: (payload: T) => boolean, ms = 30_000): Promise<T> {
      if (last.has(event) && predicate(last.get(event))) return last.get(event);
      return nextEvent<T>(socket, event, predicate, ms);
    },
  };
}

/** Two nodes over one Redis, and session `id` made on A with the colour page loaded (red; a click turns it blue). */
async function loadedOnA(t: TestCleanup, id: string): Promise<{ a: ServerProcess; c: ServerProcess }> {
  const redis = await startRedis(t);
  const pages = await startPageServer();
  t.after(() => pages.close());
  const a = await node(t, redis.url);
  const c = await node(t, redis.url);
  assert.equal((await call(a, 'POST', '/api/session/create', OWNER, { session_id: id, width: 320, height: 240 })).status, 201);
  assert.equal((await call(a, 'POST', `/api/session/${id}/load`, OWNER, { url: `${pages.origin}/` })).status, 200);
  return { a, c };
}

/** The names a `presence` payload lists, sorted. */
const names = (presence: { viewers: { name: string }[] }): string[] => presence.viewers.map((viewer) => viewer.name).sort();

describe('cluster (REDIS_URL): browser sessions on every node', () => {
  it('serves a session created through node A on every node: driven through C, watched through B, its owner checked everywhere', async (t) => {
    const redis = await startRedis(t);
    const pages = await startPageServer();
    t.after(() => pages.close());
    const a = await node(t, redis.url);
    const b = await node(t, redis.url);
    const c = await node(t, redis.url);

    const created = await call(a, 'POST', '/api/session/create', OWNER, { session_id: 'shared', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // The same id cannot be taken on another node while A runs it.
    const twice = await call(b, 'POST', '/api/session/create', OWNER, { session_id: 'shared', width: 320, height: 240 });
    assert.equal(twice.status, 409, JSON.stringify(twice.body));

    // Loaded through C: forwarded to A, answered as A answers.
    const loaded = await call(c, 'POST', '/api/session/shared/load', OWNER, { url: `${pages.origin}/` });
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    assert.equal(loaded.body.success, true);
    // A's validation, through C: a bad url is refused by A with A's words.
    const bad = await call(c, 'POST', '/api/session/shared/load', OWNER, { url: 42 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /url must be a string/);
    // Another owner's session is unknown to the stranger on C as on A, word for word.
    const strangerOnA = await call(a, 'POST', '/api/session/shared/keepalive', STRANGER);
    const strangerOnC = await call(c, 'POST', '/api/session/shared/keepalive', STRANGER);
    assert.equal(strangerOnC.status, 404);
    assert.deepEqual(strangerOnC.body, strangerOnA.body);

    // Watched through B (Socket.IO), its frames come from A through Redis.
    const onB = socketOn(t, b, OWNER);
    const errorsOnB: unknown[] = [];
    onB.on('error', (e: unknown) => errorsOnB.push(e));
    const redOnB = frameOfColour(onB, RED, 30_000);
    assert.equal((await subscribe(onB, 'shared')).session_id, 'shared');
    await redOnB;
    // The stranger cannot watch it on B either: the owner came with the node report.
    const strangerSocket = socketOn(t, b, STRANGER);
    await assert.rejects(subscribe(strangerSocket, 'shared'), (error: Error & { code?: string }) => error.code === 'session_not_found');

    // The WebSocket routes on B and C serve it too.
    const feed = await firstImage(t, `${b.ws}/ws/video_feed?stream=session:shared&token=${OWNER}`);
    assert.ok(near(await pixelAt(feed, 10, 10), RED), 'a red frame on /ws/video_feed through B');
    const stream = await firstImage(t, `${c.ws}/stream/session:shared?token=${OWNER}`);
    assert.ok(near(await pixelAt(stream, 10, 10), RED), 'a red frame on /stream through C');

    // Driven through C over Socket.IO: the page turns blue, seen on B.
    const onC = socketOn(t, c, OWNER);
    await subscribe(onC, 'shared');
    const blueOnB = frameOfColour(onB, BLUE, 30_000);
    assert.deepEqual(await onC.timeout(30_000).emitWithAck('input:click', { x: 100, y: 100 }), { type: 'click' });
    await blueOnB.catch((error: Error) => assert.fail(`${error.message}; errors on B: ${JSON.stringify(errorsOnB)}`));
    // A's input validation answers through C.
    const refused = await onC.timeout(30_000).emitWithAck('input:click', { x: 100_000, y: 100 });
    assert.equal(refused.error?.code, 'invalid_input', JSON.stringify(refused));

    // Driven through C over REST: red again.
    const redAgain = frameOfColour(onB, RED, 30_000);
    const clicked = await call(c, 'POST', '/api/session/shared/input', OWNER, { type: 'click', x: 50, y: 50 });
    assert.equal(clicked.status, 200, JSON.stringify(clicked.body));
    await redAgain;

    // keepalive, info and the PNG through C.
    assert.equal((await call(c, 'POST', '/api/session/shared/keepalive', OWNER)).status, 200);
    const info = await call(c, 'GET', '/api/session/shared', OWNER);
    assert.equal(info.body.session_id ?? info.body.id, 'shared');
    const data = await call(c, 'GET', '/api/session/shared/frame/data', OWNER);
    assert.equal(data.status, 200);
    assert.equal(data.body.format, 'png');
    assert.ok(near(await pixelAt(Buffer.from(data.body.frame, 'base64'), 10, 10), RED));

    // Deleted through C: the viewer on B is told the stream has ended; the id is free.
    const ended = nextEvent(onB, 'error', (e: { code: string }) => e.code === 'stream_ended', 20_000);
    const deleted = await call(c, 'DELETE', '/api/session/shared', OWNER);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    await ended;
    const again = await call(b, 'POST', '/api/session/create', OWNER, { session_id: 'shared', width: 320, height: 240 });
    assert.equal(again.status, 201, JSON.stringify(again.body));
  });

  it('ends a session whose node is killed for its viewers on other nodes, and frees its id', async (t) => {
    const { a, c } = await loadedOnA(t, 'doomed');
    const onC = socketOn(t, c, OWNER);
    const red = frameOfColour(onC, RED, 30_000);
    await subscribe(onC, 'doomed');
    await red;

    const told = nextEvent<{ code: string; message: string }>(onC, 'error', (e) => e.code === 'stream_ended', 30_000);
    await killHard(a);
    const notice = await told;
    assert.match(notice.message, /stopped answering.*Chromium is gone/);

    // The id comes free once A's claim expires (5 s after its last renewal).
    const created = await waitUntil(
      () => call(c, 'POST', '/api/session/create', OWNER, { session_id: 'doomed', width: 320, height: 240 }),
      (answer) => answer.status === 201,
      { timeoutMs: 30_000, what: 'the id of the dead node\'s session free again' },
    );
    assert.equal(created.body.session_id, 'doomed');
  });

  it('counts the global and per-user session caps across the cluster', async (t) => {
    const redis = await startRedis(t);
    const caps = ['--max-sessions', '2', '--max-sessions-per-user', '1'];
    const a = await node(t, redis.url, caps);
    const b = await node(t, redis.url, caps);
    const body = (id: string) => ({ session_id: id, width: 320, height: 240 });
    assert.equal((await call(a, 'POST', '/api/session/create', OWNER, body('first'))).status, 201);
    await waitUntil(() => call(b, 'GET', '/api/cluster', ADMIN), (view) => view.body.sessions?.['first'] !== undefined, { timeoutMs: 20_000, what: "B knowing A's session" });
    // The owner has one session (on A): B refuses a second one.
    const second = await call(b, 'POST', '/api/session/create', OWNER, body('second'));
    assert.equal(second.status, 429, JSON.stringify(second.body));
    assert.match(second.body.error, /too many sessions of yours/);
    // Another user may: two sessions in the cluster, the global cap.
    assert.equal((await call(b, 'POST', '/api/session/create', STRANGER, body('second'))).status, 201);
    await waitUntil(() => call(a, 'GET', '/api/cluster', ADMIN), (view) => view.body.sessions?.['second'] !== undefined, { timeoutMs: 20_000, what: "A knowing B's session" });
    const third = await call(a, 'POST', '/api/session/create', ADMIN, body('third'));
    assert.equal(third.status, 429, JSON.stringify(third.body));
    assert.match(third.body.error, /too many sessions: 2 at most/);
  });

  it('places a new session on the node running the fewest, whichever node got the create', async (t) => {
    const redis = await startRedis(t);
    const a = await node(t, redis.url);
    const b = await node(t, redis.url);
    const body = (id: string) => ({ session_id: id, width: 320, height: 240 });
    const idOf = async (server: ServerProcess) => (await call(server, 'GET', '/api/cluster', ADMIN)).body.node as string;
    const [idA, idB] = [await idOf(a), await idOf(b)];
    // Both nodes run none: A keeps the first.
    assert.equal((await call(a, 'POST', '/api/session/create', OWNER, body('first'))).status, 201);
    await waitUntil(() => call(a, 'GET', '/api/cluster', ADMIN), (view) => view.body.nodes?.length === 2 && view.body.sessions?.['first'] === idA, { timeoutMs: 20_000, what: 'A listing its session and both nodes' });
    // A runs one, B none: the second, asked of A, goes to B, and A still answers for it.
    const second = await call(a, 'POST', '/api/session/create', OWNER, body('second'));
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal(second.body.session_id, 'second');
    const view = await waitUntil(() => call(b, 'GET', '/api/cluster', ADMIN), (v) => v.body.sessions?.['second'] !== undefined, { timeoutMs: 20_000, what: 'the second session listed' });
    assert.equal(view.body.sessions['second'], idB);
    await waitUntil(() => call(a, 'POST', '/api/session/second/keepalive', OWNER), (answer) => answer.status === 200, { timeoutMs: 20_000, what: 'A answering for the session on B' });
  });

  it('makes a Socket.IO viewer on another node a participant: presence, control hand-off, its input as the controller\'s, gone when it leaves or its node dies', async (t) => {
    const { a, c } = await loadedOnA(t, 'hand');

    // Alice watches on A (the session's node), Carol on C.
    const onA = socketOn(t, a, OWNER);
    const onC = socketOn(t, c, OWNER);
    const seenA = recorder(onA);
    const seenC = recorder(onC);
    const red = frameOfColour(onA, RED, 30_000);
    await subscribe(onA, 'hand', 'alice');
    await red;
    await subscribe(onC, 'hand', 'carol');
    const alice = await seenA.until<{ id: string; name: string }>('presence:you', () => true);
    const carol = await seenC.until<{ id: string; name: string }>('presence:you', () => true);
    assert.equal(carol.name, 'carol');
    // Each sees both, with their names, wherever they are.
    for (const seen of [seenA, seenC]) await seen.until('presence', (p: any) => names(p).join() === 'alice,carol');
    await seenC.until('control:state', (state: any) => state.mode === 'open');

    // Alice asks first and gets control; Carol's request, from C, waits, and Alice (on A) sees it.
    assert.deepEqual(await onA.timeout(20_000).emitWithAck('control:request'), { action: 'request', result: 'granted' });
    assert.deepEqual(await onC.timeout(20_000).emitWithAck('control:request'), { action: 'request', result: 'pending' });
    await seenA.until('control:state', (state: any) => state.requests.some((r: any) => r.id === carol.id));
    // Carol's input is refused as a local viewer's would be.
    const early = await onC.timeout(20_000).emitWithAck('input:click', { x: 100, y: 100 });
    assert.equal(early.error?.code, 'control_required', JSON.stringify(early));
    // Denied on A: Carol, on C, hears it.
    const denied = nextEvent(onC, 'control:denied', () => true, 20_000);
    assert.deepEqual(await onA.timeout(20_000).emitWithAck('control:deny', { id: carol.id }), { action: 'deny', result: 'done' });
    assert.deepEqual((await denied).by, { id: alice.id, name: 'alice' });
    // Granted on A: Carol controls, and both hear it.
    assert.deepEqual(await onC.timeout(20_000).emitWithAck('control:request'), { action: 'request', result: 'pending' });
    await seenA.until('control:state', (state: any) => state.requests.some((r: any) => r.id === carol.id));
    assert.deepEqual(await onA.timeout(20_000).emitWithAck('control:grant', { id: carol.id }), { action: 'grant', result: 'done' });
    for (const seen of [seenA, seenC]) await seen.until('control:state', (state: any) => state.controller?.id === carol.id);
    await seenA.until('presence', (p: any) => p.viewers.find((v: any) => v.id === carol.id)?.role === 'controller');

    // Carol's click, sent on C, reaches the page on A (it turns blue); Alice's is refused now.
    const blue = frameOfColour(onA, BLUE, 30_000);
    assert.deepEqual(await onC.timeout(30_000).emitWithAck('input:click', { x: 100, y: 100 }), { type: 'click' });
    await blue;
    const refused = await onA.timeout(20_000).emitWithAck('input:click', { x: 100, y: 100 });
    assert.equal(refused.error?.code, 'control_required', JSON.stringify(refused));
    // Control actions keep their codes through C: Carol cannot grant a request nobody made.
    const noSuch = await onC.timeout(20_000).emitWithAck('control:grant', { id: 'nobody' });
    assert.equal(noSuch.error?.code, 'holder_not_found', JSON.stringify(noSuch));

    // Carol, controlling from C, shares pointers: each sees the other's, across the nodes.
    assert.deepEqual(await onC.timeout(20_000).emitWithAck('pointer:share', { enabled: true }), { action: 'pointers', result: 'on' });
    // Both have heard it (a pointer batch is volatile: one that meets a write still going out is skipped).
    for (const seen of [seenA, seenC]) await seen.until('control:state', (state: any) => state.pointers === true);
    const alicePointer = nextEvent(onC, 'pointers', (p: any) => p.pointers.some((q: any) => q.id === alice.id && q.x === 30 && q.y === 40), 20_000);
    assert.deepEqual(await onA.timeout(20_000).emitWithAck('pointer:move', { x: 30, y: 40 }), {});
    await alicePointer.catch((error: Error) => assert.fail(`Alice's pointer (A) on C: ${error.message}`));
    const carolPointer = nextEvent(onA, 'pointers', (p: any) => p.pointers.some((q: any) => q.id === carol.id && q.x === 50 && q.y === 60), 20_000);
    assert.deepEqual(await onC.timeout(20_000).emitWithAck('pointer:move', { x: 50, y: 60 }), {});
    await carolPointer.catch((error: Error) => assert.fail(`Carol's pointer (C) on A: ${error.message}`));
    // A position off the page is refused by A with A's code.
    const offPage = await onC.timeout(20_000).emitWithAck('pointer:move', { x: 99_999, y: 1 });
    assert.equal(offPage.error?.code, 'invalid_input', JSON.stringify(offPage));

    // Alice waits for control; Carol disconnects: she leaves A's presence and control passes to Alice.
    assert.deepEqual(await onA.timeout(20_000).emitWithAck('control:request'), { action: 'request', result: 'pending' });
    onC.disconnect();
    await seenA.until('control:state', (state: any) => state.controller?.id === alice.id);
    await seenA.until('presence', (p: any) => names(p).join() === 'alice');

    // Dave watches on C and waits for control; C is killed: Dave leaves A's presence and the requests.
    const onC2 = socketOn(t, c, OWNER);
    const seenC2 = recorder(onC2);
    await subscribe(onC2, 'hand', 'dave');
    const dave = await seenC2.until<{ id: string }>('presence:you', () => true);
    assert.deepEqual(await onC2.timeout(20_000).emitWithAck('control:request'), { action: 'request', result: 'pending' });
    await seenA.until('presence', (p: any) => names(p).join() === 'alice,dave');
    await seenA.until('control:state', (state: any) => state.requests.some((r: any) => r.id === dave.id));
    await killHard(c);
    await seenA.until('presence', (p: any) => names(p).join() === 'alice', 30_000);
    await seenA.until('control:state', (state: any) => state.requests.length === 0 && state.controller?.id === alice.id);
  });

  it('answers hostile calls on the internal participant routes with defined errors: without the secret an unknown route, with it the body checked as a client\'s', async (t) => {
    const redis = await startRedis(t);
    const a = await node(t, redis.url);
    assert.equal((await call(a, 'POST', '/api/session/create', OWNER, { session_id: 'guarded', width: 320, height: 240 })).status, 201);
    const secret = execFileSync('redis-cli', ['-p', String(redis.port), 'GET', 'framehub:cluster-secret'], { encoding: 'utf8' }).trim();
    assert.ok(secret.length > 10, 'the cluster secret in Redis');
    const onA = socketOn(t, a, OWNER);
    const seenA = recorder(onA);
    await subscribe(onA, 'guarded', 'alice');
    await seenA.until('presence', (p: any) => names(p).join() === 'alice');
    /** A raw call to A as node `from` (with the secret unless told otherwise). */
    const raw = async (method: string, path: string, body: string | undefined, { token = OWNER, withSecret = true, from = 'ghost-node' } = {}) => {
      const response = await fetch(`${a.http}${path}`, {
        method,
        headers: {
          'x-framehub-forwarded': from,
          ...(withSecret && { 'x-framehub-cluster-secret': secret }),
          ...(token && { authorization: `Bearer ${token}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body }),
        signal: AbortSignal.timeout(30_000),
      });
      return { status: response.status, body: await response.json() as any };
    };

    // A client, even one naming a node, gets an unknown route's answer.
    const forged = await raw('POST', '/api/session/guarded/participants', '{"socket":"abc"}', { withSecret: false });
    assert.equal(forged.status, 404);
    assert.match(forged.body.message, /not found/);
    // With the secret, the viewer's token and owner are checked as for a local socket.
    assert.equal((await raw('POST', '/api/session/guarded/participants', '{"socket":"abc"}', { token: '' })).status, 401);
    const stranger = await raw('POST', '/api/session/guarded/participants', '{"socket":"abc"}', { token: STRANGER });
    assert.deepEqual([stranger.status, stranger.body.code], [404, 'session_not_found']);

    // A participant of node "ghost-node", which no heartbeat lists.
    const joined = await raw('POST', '/api/session/guarded/participants', '{"socket":"ghost-socket","name":"ghost"}');
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    const ghost = joined.body.you.id as string;
    await seenA.until('presence', (p: any) => names(p).join() === 'alice,ghost');
    // Another node cannot act for it.
    const other = await raw('POST', `/api/session/guarded/participants/${ghost}/control`, '{"event":"control:request"}', { from: 'another-node' });
    assert.deepEqual([other.status, other.body.code], [409, 'input_not_accepted']);

    // Hostile bodies on every internal route: a defined 4xx with its code, never a 5xx.
    const r = new Prng(17);
    const routes: [string, string][] = [
      ['POST', '/api/session/guarded/participants'],
      ['POST', `/api/session/guarded/participants/${ghost}/control`],
      ['POST', `/api/session/guarded/participants/${ghost}/pointer`],
      ['POST', `/api/session/${encodeURIComponent('missing')}/participants`],
    ];
    const bodies = [
      () => invalidJson(r), () => notAnObject(r), () => deepValue(r),
      () => `{"socket":${weirdStringJson(r)},"name":${weirdStringJson(r)}}`,
      () => `{"socket":"s${r.int(1000)}","name":${anyValue(r)}}`,
      () => `{"event":${weirdStringJson(r)},"payload":${anyValue(r)}}`,
      () => `{"event":"${r.pick(['control:grant', 'control:deny', 'pointer:share', 'control:request', 'pointer:move', 'subscribe'])}","payload":${anyValue(r)}}`,
      () => `{"x":${badInt(r, 0, 320)},"y":${badInt(r, 0, 240)}}`,
    ];
    for (let i = 0; i < 120; i++) {
      const [method, path] = r.pick(routes);
      const answer = await raw(method, path, r.pick(bodies)());
      if (answer.status === 200) continue; // a body that happens to be valid (a join, a request, a pointer)
      assert.ok(answer.status >= 400 && answer.status < 500, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.success, false);
      assert.equal(typeof answer.body.code, 'string');
      assert.equal(typeof answer.body.error, 'string');
    }
    assert.equal((await fetch(`${a.http}/healthz`)).status, 200);

    // Listed by no heartbeat, every participant of "ghost-node" leaves A's presence by itself.
    await seenA.until('presence', (p: any) => names(p).join() === 'alice', 30_000);
  });
});
