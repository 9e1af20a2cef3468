import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { launchBrowser } from './browser-helpers.js';
import { startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent, waitUntil } from './wait.js';
import { FakeClock } from './fake-clock.js';
import { SessionControl, MAX_REQUESTS, type Actor } from '../src/sessions/session-control.js';
import { Presence } from '../src/sessions/presence.js';

const IDS = ['open1', 'handoff', 'take', 'idle', 'presence', 'pointers', 'rest', 'acl', 'bad', 'page'];
const EACH = (scope: string) => IDS.map((id) => `${scope}:${id}`).join(' ');
/** Creates the sessions (bare `control`: they are its own). */
const OWNER = 'control-owner-token-0123456789';
/** Three drivers of every test session, none of them its owner: `control:<id>` reaches it all the same. */
const ALICE = 'control-alice-token-0123456789';
const BOB = 'control-bob-token-012345678901';
const CAROL = 'control-carol-token-0123456789';
/** Watches every test session, may not drive any. */
const VIEWER = 'control-viewer-token-012345678';
const ADMIN = 'control-admin-token-0123456789';
/** SESSION_CONTROL_IDLE of the test server, seconds. */
const IDLE_S = 3;

/** The controller's state machine alone, on a clock the test moves. */
describe('SessionControl (state machine)', () => {
  const actor = (id: string, admin = false): Actor => ({ id, name: id, admin });

  it('stays open, letting anyone drive, until someone asks; then one controller', () => {
    const control = new SessionControl({ idleMs: 1000, now: () => 0 });
    const changes: unknown[] = [];
    control.on('changed', (state) => changes.push(state));
    assert.equal(control.state.mode, 'open');
    assert.ok(control.mayInput('a') && control.mayInput(undefined));
    assert.equal(control.request(actor('a')), 'granted');
    assert.equal(control.state.mode, 'exclusive');
    assert.ok(control.mayInput('a'));
    assert.ok(!control.mayInput('b') && !control.mayInput(undefined));
    assert.equal(control.request(actor('b')), 'pending');
    assert.equal(control.request(actor('b')), 'pending', 'asking twice is one request');
    assert.deepEqual(control.state.requests, [{ id: 'b', name: 'b' }]);
    assert.equal(changes.length, 2, 'one change per actual change');
  });

  it('passes control to the oldest request on release and when the controller leaves, to nobody without one', () => {
    const control = new SessionControl({ now: () => 0 });
    control.request(actor('a'));
    control.request(actor('b'));
    control.request(actor('c'));
    control.release(actor('a'));
    assert.equal(control.controllerId, 'b');
    control.leave('b');
    assert.equal(control.controllerId, 'c');
    control.release(actor('c'));
    assert.equal(control.controllerId, undefined);
    assert.equal(control.state.mode, 'exclusive', 'a release does not give the page back to everyone');
    assert.ok(!control.mayInput('c'));
  });

  it('lets only the controller or an admin grant and deny, and only requests be granted', () => {
    const control = new SessionControl({ now: () => 0 });
    const denied: unknown[] = [];
    control.on('denied', (event) => denied.push(event));
    control.request(actor('a'));
    control.request(actor('b'));
    assert.throws(() => control.grant(actor('b'), 'b'), { code: 'control_required' });
    assert.throws(() => control.grant(actor('a'), 'zz'), { code: 'holder_not_found' });
    control.deny(actor('root', true), 'b');
    assert.deepEqual(denied, [{ holder: { id: 'b', name: 'b' }, by: { id: 'root', name: 'root' } }]);
    control.request(actor('b'));
    control.grant(actor('a'), 'b');
    assert.equal(control.controllerId, 'b');
    assert.throws(() => control.release(actor('a')), { code: 'control_required' });
  });

  it('lets an admin take at once and anyone else after SESSION_CONTROL_IDLE of the controller\'s inactivity', () => {
    let now = 1_000_000;
    const control = new SessionControl({ idleMs: 30_000, now: () => now });
    control.take(actor('a'));
    now += 29_000;
    control.touch('a');
    now += 29_000;
    assert.throws(() => control.take(actor('b')), { code: 'control_busy' });
    now += 1000;
    control.take(actor('b'));
    assert.equal(control.controllerId, 'b');
    control.take(actor('root', true));
    assert.equal(control.controllerId, 'root');
    const never = new SessionControl({ idleMs: 0, now: () => now });
    never.take(actor('a'));
    now += 1e9;
    assert.throws(() => never.take(actor('b')), { code: 'control_busy' });
  });

  it('reports a throwing listener and still completes the action', () => {
    const reported: unknown[] = [];
    const control = new SessionControl({ now: () => 0, onListenerError: (error) => reported.push(error) });
    control.on('changed', () => {
      throw new Error('listener bug');
    });
    assert.equal(control.request(actor('a')), 'granted');
    assert.equal(control.controllerId, 'a');
    assert.deepEqual(reported.map((e) => (e as Error).message), ['listener bug']);
  });

  it('bounds the waiting requests and forgets script keys that neither control nor wait', () => {
    const control = new SessionControl({ now: () => 0 });
    control.request(actor('a'));
    for (let i = 0; i < MAX_REQUESTS; i++) control.request(actor(`r${i}`));
    assert.throws(() => control.request(actor('one-too-many')), { code: 'rate_limited' });
    const { key, holder } = control.newScript(undefined);
    assert.equal(holder.name, 'script 1');
    assert.equal(control.scriptOf(key), holder);
    control.prune();
    assert.equal(control.scriptOf(key), undefined);
  });
});

describe('Presence (pointer relay)', () => {
  it('names anonymous viewers, sends pointers at most every interval, latest wins, nothing queued beyond one per viewer', async () => {
    const clock = new FakeClock();
    const presence = new Presence({ pointerIntervalMs: 50, clock, now: () => 42 });
    const a = presence.join(undefined);
    const b = presence.join('Bob');
    assert.deepEqual(presence.list().map((v) => [v.name, v.since]), [['viewer 1', 42], ['Bob', 42]]);
    const batches: unknown[] = [];
    presence.on('pointers', (batch) => batches.push(batch));
    presence.pointer(a.id, 1, 1); // the first goes at once
    for (let i = 0; i < 100; i++) presence.pointer(a.id, i, i);
    presence.pointer(b.id, 5, 5);
    assert.equal(batches.length, 1);
    assert.equal(clock.pendingTimers, 1);
    await clock.advance(50);
    assert.deepEqual(batches[1], [{ id: a.id, x: 99, y: 99 }, { id: b.id, x: 5, y: 5 }]);
    assert.equal(presence.droppedPointers, 99);
    presence.pointer(a.id, 7, 7);
    presence.clearPointers();
    await clock.advance(100);
    assert.equal(batches.length, 2, 'cleared positions are not sent');
    presence.leave(a.id);
    presence.pointer(a.id, 1, 1);
    await clock.advance(100);
    assert.equal(batches.length, 2, 'a viewer that left has no pointer');
  });
});

describe('control and presence of a browser session (real Chromium, Socket.IO and REST)', () => {
  let pages: PageServer;
  let server: TestServer;
  const sockets: Socket[] = [];
  const open = (token: string) => {
    const socket = connect(server.http, { reconnection: false, transports: ['websocket'], auth: { token } });
    sockets.push(socket);
    return socket;
  };
  /** A socket subscribed to `id`, with its own presence id and the control state it was sent. */
  const join = async (token: string, id: string, name?: string) => {
    const socket = open(token);
    const you = nextEvent(socket, 'presence:you');
    const state = nextEvent(socket, 'control:state');
    const presence = nextEvent(socket, 'presence');
    const answer = await socket.timeout(20_000).emitWithAck('subscribe', { session_id: id, ...(name !== undefined && { name }) });
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    return { socket, you: await you as { id: string; name: string }, state: await state, presence: await presence };
  };
  const call = async (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(server.http + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, body: await response.json() as any };
  };
  const create = async (id: string) => {
    const created = await call('POST', '/api/session/create', OWNER, { session_id: id, width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call('POST', `/api/session/${id}/load`, OWNER, { url: `${pages.origin}/` })).status, 200);
  };
  /** What reached the session's page (test/session-helpers.ts's colour page records it). */
  const seen = async (id: string) => (await server.server.sessions.get(id)!.page()).page.evaluate(() => (window as any).seen as { clicks: number[][]; keys: string[] });

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer({
      maxSessions: 20,
      maxSessionsPerIp: 20,
      maxSessionsPerUser: 20,
      sessionControlIdle: IDLE_S,
      accessTokens: [
        `${OWNER}=control`, `${ALICE}=${EACH('control')}`, `${BOB}=${EACH('control')}`, `${CAROL}=${EACH('control')}`,
        `${VIEWER}=${EACH('view:session')}`, `${ADMIN}=admin`,
      ].join('; '),
    });
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('a session nobody asked for control of takes input from every driver, as seeds/003 has it', async () => {
    await create('open1');
    const alice = await join(ALICE, 'open1');
    const bob = await join(BOB, 'open1');
    assert.equal(alice.state.mode, 'open');
    assert.equal(alice.state.controller, null);
    assert.deepEqual(await alice.socket.emitWithAck('input:click', { x: 10, y: 20 }), { type: 'click' });
    assert.deepEqual(await bob.socket.emitWithAck('input:click', { x: 30, y: 40 }), { type: 'click' });
    assert.equal((await call('POST', '/api/session/open1/input', CAROL, { type: 'click', x: 50, y: 60 })).status, 200);
    assert.deepEqual((await seen('open1')).clicks, [[10, 20, 0], [30, 40, 0], [50, 60, 0]]);
  });

  it('hands control over: request → grant, request → deny, release to the oldest request; a viewer\'s input never reaches the page', async () => {
    await create('handoff');
    const alice = await join(ALICE, 'handoff', 'Alice');
    const bob = await join(BOB, 'handoff', 'Bob');
    const carol = await join(CAROL, 'handoff', 'Carol');

    // Alice asks while nobody controls: hers at once, and every viewer is told.
    const bobHears = nextEvent(bob.socket, 'control:state', (s) => s.controller?.id === alice.you.id);
    assert.deepEqual(await alice.socket.emitWithAck('control:request', {}), { action: 'request', result: 'granted' });
    const state = await bobHears;
    assert.equal(state.mode, 'exclusive');
    assert.deepEqual(state.controller, { id: alice.you.id, name: 'Alice' });

    // Bob's input is refused and never reaches the page; Alice's does.
    const refused = await bob.socket.emitWithAck('input:click', { x: 11, y: 11 });
    assert.equal(refused.error?.code, 'control_required');
    assert.match(refused.error.message, /Alice controls this session/);
    const refusedKey = nextEvent(bob.socket, 'error');
    bob.socket.emit('input:key', { key: 'x' });
    assert.equal((await refusedKey).code, 'control_required');
    assert.deepEqual(await alice.socket.emitWithAck('input:click', { x: 22, y: 22 }), { type: 'click' });
    assert.deepEqual((await seen('handoff')).clicks, [[22, 22, 0]]);
    assert.deepEqual((await seen('handoff')).keys, []);

    // Bob asks; Alice hears the request and turns it down; Bob is told by whom.
    const aliceHearsRequest = nextEvent(alice.socket, 'control:state', (s) => s.requests.length === 1);
    assert.deepEqual(await bob.socket.emitWithAck('control:request'), { action: 'request', result: 'pending' });
    assert.deepEqual((await aliceHearsRequest).requests, [{ id: bob.you.id, name: 'Bob' }]);
    const denied = nextEvent(bob.socket, 'control:denied');
    assert.equal((await carol.socket.emitWithAck('control:deny', { id: bob.you.id })).error?.code, 'control_required', 'only the controller answers');
    assert.deepEqual(await alice.socket.emitWithAck('control:deny', { id: bob.you.id }), { action: 'deny', result: 'done' });
    assert.deepEqual(await denied, { by: { id: alice.you.id, name: 'Alice' } });

    // Bob asks again and is granted: Alice's input is refused now, Bob's reaches the page.
    await bob.socket.emitWithAck('control:request');
    const bobControls = nextEvent(carol.socket, 'control:state', (s) => s.controller?.id === bob.you.id);
    assert.deepEqual(await alice.socket.emitWithAck('control:grant', { id: bob.you.id }), { action: 'grant', result: 'done' });
    await bobControls;
    assert.equal((await alice.socket.emitWithAck('input:click', { x: 33, y: 33 })).error?.code, 'control_required');
    assert.deepEqual(await bob.socket.emitWithAck('input:click', { x: 44, y: 44 }), { type: 'click' });

    // Carol, then Alice ask; Bob releases: the oldest request (Carol's) gets control.
    assert.equal((await carol.socket.emitWithAck('control:request')).result, 'pending');
    assert.equal((await alice.socket.emitWithAck('control:request')).result, 'pending');
    const carolControls = nextEvent(alice.socket, 'control:state', (s) => s.controller?.id === carol.you.id);
    assert.deepEqual(await bob.socket.emitWithAck('control:release'), { action: 'release', result: 'done' });
    assert.deepEqual((await carolControls).requests, [{ id: alice.you.id, name: 'Alice' }]);
    // Carol leaves: control passes to Alice, who waited.
    const aliceControls = nextEvent(alice.socket, 'control:state', (s) => s.controller?.id === alice.you.id);
    carol.socket.disconnect();
    await aliceControls;
    assert.deepEqual(await alice.socket.emitWithAck('input:click', { x: 55, y: 55 }), { type: 'click' });
    assert.equal((await bob.socket.emitWithAck('input:click', { x: 66, y: 66 })).error?.code, 'control_required');
    assert.deepEqual((await seen('handoff')).clicks, [[22, 22, 0], [44, 44, 0], [55, 55, 0]]);
  });

  it('an admin takes control at any time; a driver only from nobody, or after the controller was idle SESSION_CONTROL_IDLE', async () => {
    await create('take');
    const alice = await join(ALICE, 'take', 'Alice');
    const bob = await join(BOB, 'take', 'Bob');
    const admin = await join(ADMIN, 'take', 'Root');
    assert.equal(alice.state.idle_take_after, IDLE_S);
    assert.deepEqual(await alice.socket.emitWithAck('control:take'), { action: 'take', result: 'done' }, 'nobody controls: anyone may take');
    assert.deepEqual(await alice.socket.emitWithAck('input:click', { x: 5, y: 5 }), { type: 'click' });
    const busy = await bob.socket.emitWithAck('control:take');
    assert.equal(busy.error?.code, 'control_busy');
    assert.match(busy.error.message, /Alice controls this session; it can be taken after 3 s of its inactivity/);
    const taken = nextEvent(alice.socket, 'control:state', (s) => s.controller?.id === admin.you.id);
    assert.deepEqual(await admin.socket.emitWithAck('control:take'), { action: 'take', result: 'done' });
    await taken;
    assert.equal((await alice.socket.emitWithAck('input:click', { x: 6, y: 6 })).error?.code, 'control_required');
    assert.deepEqual(await admin.socket.emitWithAck('input:click', { x: 7, y: 7 }), { type: 'click' });
    assert.deepEqual((await seen('take')).clicks, [[5, 5, 0], [7, 7, 0]]);
  });

  it('a driver takes control once the controller has been idle SESSION_CONTROL_IDLE seconds, not before', async () => {
    await create('idle');
    const alice = await join(ALICE, 'idle', 'Alice');
    const bob = await join(BOB, 'idle', 'Bob');
    await alice.socket.emitWithAck('control:request');
    const tookAt = Date.now();
    assert.equal((await bob.socket.emitWithAck('control:take')).error?.code, 'control_busy');
    // The idle time is the point here: Bob tries until the server lets him, and that is not before IDLE_S.
    await waitUntil(() => bob.socket.emitWithAck('control:take'), (answer) => !answer.error, { timeoutMs: 20_000, intervalMs: 250, what: 'an idle take' });
    // Less a margin for the ack's trip: the server started the idle clock a little before tookAt.
    assert.ok(Date.now() - tookAt >= IDLE_S * 1000 - 500, `taken after ${Date.now() - tookAt} ms`);
    assert.deepEqual(await bob.socket.emitWithAck('input:click', { x: 9, y: 9 }), { type: 'click' });
    assert.equal((await alice.socket.emitWithAck('input:click', { x: 8, y: 8 })).error?.code, 'control_required');
    assert.deepEqual((await seen('idle')).clicks, [[9, 9, 0]]);
  });

  it('tells every viewer who watches: names, anonymous labels, since, the controller flag, on join and leave', async () => {
    await create('presence');
    const before = Date.now();
    const alice = await join(ALICE, 'presence', '  Alice  ');
    assert.deepEqual(alice.you.name, 'Alice');
    assert.equal(alice.presence.viewers.length, 1);
    const aliceSeesBob = nextEvent(alice.socket, 'presence', (p) => p.viewers.length === 2);
    const bob = await join(VIEWER, 'presence');
    const both = (await aliceSeesBob).viewers;
    assert.deepEqual(both.map((v: any) => [v.id, v.name, v.role]), [[alice.you.id, 'Alice', 'viewer'], [bob.you.id, 'viewer 2', 'viewer']]);
    assert.deepEqual(bob.presence.viewers, both, 'the newcomer gets the whole list');
    for (const viewer of both) assert.ok(viewer.since >= before - 5 && viewer.since <= Date.now(), `since ${viewer.since}`);

    const flagged = nextEvent(bob.socket, 'presence', (p) => p.viewers.some((v: any) => v.role === 'controller'));
    await alice.socket.emitWithAck('control:request');
    assert.deepEqual((await flagged).viewers.map((v: any) => v.role), ['controller', 'viewer']);

    const rest = await call('GET', '/api/session/presence/presence', VIEWER);
    assert.equal(rest.status, 200);
    assert.deepEqual(rest.body.viewers.map((v: any) => [v.name, v.role]), [['Alice', 'controller'], ['viewer 2', 'viewer']]);
    assert.deepEqual(rest.body.controller, { id: alice.you.id, name: 'Alice' });

    const bobSeesLeave = nextEvent(bob.socket, 'presence', (p) => p.viewers.length === 1);
    alice.socket.disconnect();
    assert.deepEqual((await bobSeesLeave).viewers.map((v: any) => [v.name, v.role]), [['viewer 2', 'viewer']]);
    // An unsubscribe leaves too.
    const carol = await join(CAROL, 'presence', 'Carol');
    const carolSeesBobGo = nextEvent(carol.socket, 'presence', (p) => p.viewers.length === 1);
    await bob.socket.emitWithAck('unsubscribe');
    assert.deepEqual((await carolSeesBobGo).viewers.map((v: any) => v.name), ['Carol']);

    // A client churning subscribe/unsubscribe does not make a broadcast of each change: they are
    // sent together (the latest list), so Carol hears a few, not 40.
    let heard = 0;
    carol.socket.on('presence', () => heard++);
    for (let i = 0; i < 20; i++) {
      bob.socket.emit('subscribe', { session_id: 'presence' });
      bob.socket.emit('unsubscribe');
    }
    await bob.socket.emitWithAck('unsubscribe');
    await nextEvent(carol.socket, 'presence', (p) => p.viewers.length === 1);
    assert.ok(heard >= 1 && heard < 10, `${heard} presence broadcasts for 40 changes`);
  });

  it('relays viewers\' pointers while the controller shares them, latest position at a bounded rate, and refuses them when off', async () => {
    await create('pointers');
    const alice = await join(ALICE, 'pointers', 'Alice');
    const bob = await join(VIEWER, 'pointers', 'Bob');
    const off = await bob.socket.emitWithAck('pointer:move', { x: 10, y: 10 });
    assert.equal(off.error?.code, 'pointers_off');
    assert.equal((await bob.socket.emitWithAck('pointer:move', { x: 1e6, y: 10 })).error?.code, 'invalid_input', 'a bad position is that, sharing or not');
    await alice.socket.emitWithAck('control:request');
    assert.equal((await bob.socket.emitWithAck('pointer:share', { enabled: true })).error?.code, 'scope_missing', 'a viewer cannot turn sharing on');
    const shared = nextEvent(bob.socket, 'control:state', (s) => s.pointers === true);
    assert.deepEqual(await alice.socket.emitWithAck('pointer:share', { enabled: true }), { action: 'pointers', result: 'on' });
    await shared;

    // 40 moves at once: they arrive as a few batches, the last carrying the last position.
    const batches: { id: string; x: number; y: number }[][] = [];
    alice.socket.on('pointers', ({ pointers }) => batches.push(pointers));
    const last = nextEvent(alice.socket, 'pointers', ({ pointers }) => pointers.some((p: any) => p.x === 139));
    for (let i = 100; i < 140; i++) bob.socket.emit('pointer:move', { x: i, y: 50 });
    await last;
    assert.ok(batches.length < 40, `${batches.length} batches for 40 moves`);
    assert.ok(batches.every((batch) => batch.length === 1 && batch[0]!.id === bob.you.id));

    const stopped = nextEvent(bob.socket, 'control:state', (s) => s.pointers === false);
    assert.deepEqual(await alice.socket.emitWithAck('pointer:share', { enabled: false }), { action: 'pointers', result: 'off' });
    await stopped;
    assert.equal((await bob.socket.emitWithAck('pointer:move', { x: 1, y: 1 })).error?.code, 'pointers_off');
  });

  it('does the same over REST for scripts: request, grant, deny, release, take, input with X-Control-Holder', async () => {
    await create('rest');
    const alice = await join(ALICE, 'rest', 'Alice');
    // A script asks while nobody controls: granted, with the key it sends back from now on.
    const first = await call('POST', '/api/session/rest/control/request', BOB, { name: 'robot' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.result, 'granted');
    assert.equal(first.body.holder.name, 'robot');
    const robot = { 'x-control-holder': first.body.key as string };
    assert.equal(typeof robot['x-control-holder'], 'string');
    assert.equal((await call('GET', '/api/session/rest/control', VIEWER)).body.control.controller.name, 'robot');

    // Input: with the key it reaches the page; without it, or from the Socket.IO viewer, it is refused.
    assert.equal((await call('POST', '/api/session/rest/input', BOB, { type: 'click', x: 1, y: 2 }, robot)).status, 200);
    const noKey = await call('POST', '/api/session/rest/input', BOB, { type: 'click', x: 3, y: 4 });
    assert.equal(noKey.status, 409);
    assert.match(noKey.body.error, /robot controls this session/);
    assert.equal((await alice.socket.emitWithAck('input:click', { x: 5, y: 6 })).error?.code, 'control_required');

    // Alice asks; the script denies, she asks again, the script grants.
    await alice.socket.emitWithAck('control:request');
    const denied = nextEvent(alice.socket, 'control:denied');
    assert.equal((await call('POST', '/api/session/rest/control/deny', CAROL, { id: alice.you.id })).status, 409, 'only the controller (by its key) answers');
    assert.equal((await call('POST', '/api/session/rest/control/deny', BOB, { id: alice.you.id }, robot)).status, 200);
    assert.equal((await denied).by.name, 'robot');
    await alice.socket.emitWithAck('control:request');
    const granted = await call('POST', '/api/session/rest/control/grant', BOB, { id: alice.you.id }, robot);
    assert.equal(granted.status, 200);
    assert.equal(granted.body.control.controller.id, alice.you.id);
    // The script lost control, and with it its key.
    assert.equal((await call('POST', '/api/session/rest/input', BOB, { type: 'click', x: 7, y: 8 }, robot)).status, 409);
    assert.equal((await call('POST', '/api/session/rest/control/release', BOB, undefined, robot)).status, 404);

    // A second script waits, then is handed control when Alice releases; it releases in turn.
    const second = await call('POST', '/api/session/rest/control/request', CAROL);
    assert.equal(second.body.result, 'pending');
    assert.equal(second.body.holder.name, 'script 1', 'a script without a name gets a label');
    const key2 = { 'x-control-holder': second.body.key as string };
    await alice.socket.emitWithAck('control:release');
    assert.equal((await call('POST', '/api/session/rest/input', CAROL, { type: 'click', x: 9, y: 10 }, key2)).status, 200);
    assert.equal((await call('POST', '/api/session/rest/control/release', CAROL, undefined, key2)).status, 200);

    // Take: an admin without a key gets a new identity; a driver is refused while the controller is active.
    assert.equal((await call('POST', '/api/session/rest/control/take', BOB)).status, 200, 'nobody controls: anyone may take');
    const busy = await call('POST', '/api/session/rest/control/take', CAROL);
    assert.equal(busy.status, 409);
    assert.match(busy.body.error, /can be taken after 3 s/);
    const admin = await call('POST', '/api/session/rest/control/take', ADMIN, { name: 'ops' });
    assert.equal(admin.status, 200);
    assert.equal(admin.body.control.controller.name, 'ops');
    assert.equal((await call('POST', '/api/session/rest/input', ADMIN, { type: 'click', x: 11, y: 12 }, { 'x-control-holder': admin.body.key })).status, 200);
    assert.deepEqual((await seen('rest')).clicks, [[1, 2, 0], [9, 10, 0], [11, 12, 0]]);

    // Bad requests get their defined answers.
    assert.equal((await call('POST', '/api/session/rest/control/grant', ADMIN, { id: 5 })).status, 400);
    assert.equal((await call('POST', '/api/session/rest/control/grant', ADMIN, { id: 'nobody' })).status, 404);
    assert.equal((await call('POST', '/api/session/rest/control/request', BOB, { name: 'x'.repeat(65) })).status, 400);
    assert.equal((await call('POST', '/api/session/rest/control/request', BOB, { name: 'a\u202eb' })).status, 400);
    assert.equal((await call('POST', '/api/session/rest/control/request', BOB, [1])).status, 400);
    assert.equal((await call('POST', '/api/session/rest/control/request', BOB, {}, { 'x-control-holder': 'not-a-key' })).status, 404);
    assert.equal((await call('GET', '/api/session/missing/presence', ADMIN)).status, 404);
  });

  it('a view-only token watches and sees presence, but cannot ask for control; control:<id> can', async () => {
    await create('acl');
    const viewer = await join(VIEWER, 'acl', 'Vic');
    const request = await viewer.socket.emitWithAck('control:request');
    assert.equal(request.error?.code, 'scope_missing');
    assert.match(request.error.message, /control:acl/);
    assert.equal((await viewer.socket.emitWithAck('control:take')).error?.code, 'scope_missing');
    assert.equal((await call('POST', '/api/session/acl/control/request', VIEWER)).status, 403);
    assert.equal((await call('POST', '/api/session/acl/control/take', VIEWER)).status, 403);
    assert.equal((await call('GET', '/api/session/acl/presence', VIEWER)).status, 200);
    assert.equal((await call('GET', '/api/session/acl/control', VIEWER)).body.control.mode, 'open', 'the refusals changed nothing');
    // Share links (docs/sessions.md, Share links) carry those scopes: a view link cannot ask, a control link can.
    const link = async (mode: string) => (await call('POST', '/api/session/acl/share', OWNER, { mode, ttl: 300 })).body.token as string;
    const viewLink = await join(await link('view'), 'acl', 'Link viewer');
    assert.equal((await viewLink.socket.emitWithAck('control:request')).error?.code, 'scope_missing');
    const controlLink = await join(await link('control'), 'acl', 'Link driver');
    assert.equal((await controlLink.socket.emitWithAck('control:request')).result, 'granted');
    const driver = await join(ALICE, 'acl');
    assert.equal((await driver.socket.emitWithAck('control:request')).result, 'pending');
    assert.equal((await call('GET', '/api/session/acl/presence', OWNER)).status, 200, 'its owner sees presence too');
  });

  it('answers bad control and presence events with a defined error and keeps the socket', async () => {
    await create('bad');
    const loose = open(ALICE);
    assert.equal((await loose.emitWithAck('control:request')).error?.code, 'input_not_accepted', 'not subscribed');
    assert.equal((await loose.emitWithAck('pointer:move', { x: 1, y: 1 })).error?.code, 'input_not_accepted');
    for (const name of ['', ' ', 'x'.repeat(65), 5, null, ['a'], 'a\u0000b', 'a\u202eb']) {
      assert.equal((await loose.emitWithAck('subscribe', { session_id: 'bad', name })).error?.code, 'invalid_message', JSON.stringify(name));
    }
    const alice = await join(ALICE, 'bad', 'Alice');
    await alice.socket.emitWithAck('control:request');
    const cases: [string, unknown, string][] = [
      ['control:grant', {}, 'invalid_message'], ['control:grant', { id: 5 }, 'invalid_message'], ['control:grant', 'x', 'invalid_message'],
      ['control:deny', { id: '../../x' }, 'invalid_message'], ['control:grant', { id: 'nobody' }, 'holder_not_found'],
      ['control:request', 'please', 'invalid_message'], ['control:release', 7, 'invalid_message'],
      ['pointer:share', { enabled: 'yes' }, 'invalid_message'], ['pointer:share', null, 'invalid_message'],
    ];
    for (const [event, payload, code] of cases) {
      assert.equal((await alice.socket.emitWithAck(event, payload)).error?.code, code, `${event} ${JSON.stringify(payload)}`);
    }
    await alice.socket.emitWithAck('pointer:share', { enabled: true });
    for (const payload of [{ x: 1e9, y: 1 }, { x: -1, y: 1 }, { x: 'a', y: 1 }, { x: Number.NaN, y: 1 }, {}]) {
      assert.equal((await alice.socket.emitWithAck('pointer:move', payload)).error?.code, 'invalid_input', JSON.stringify(payload));
    }
    assert.equal((await alice.socket.emitWithAck('pointer:move', 'here')).error?.code, 'invalid_message');
    assert.equal(alice.socket.connected, true);
    assert.equal((await alice.socket.emitWithAck('control:request')).result, 'granted', 'still the controller');
  });

  it('the session page shows who watches and who controls, in two browsers, hands control over and shows shared pointers', async (t) => {
    const first = await launchBrowser();
    t.after(() => first.close());
    const second = await launchBrowser();
    t.after(() => second.close());
    const owner = await first.newPage();
    const guest = await second.newPage();

    // Alice (the owner's token) creates the session on the page; Root (admin) joins it from the list.
    await owner.page.goto(`${server.http}/session.html?token=${OWNER}&name=Alice`);
    await owner.page.getByTestId('session-id').fill('page');
    await owner.page.locator('#width').fill('320');
    await owner.page.locator('#height').fill('240');
    await owner.page.getByTestId('create').click();
    await owner.page.getByTestId('message').filter({ hasText: 'Session created' }).waitFor({ timeout: 20_000 })
      .catch(async (error: Error) => assert.fail(`${error.message}: ${await owner.page.getByTestId('message').textContent()} ${owner.errors.join(' | ')}`));
    await owner.page.getByTestId('url').fill(`${pages.origin}/`);
    await owner.page.getByTestId('go').click();
    await owner.page.getByTestId('message').filter({ hasText: 'Loaded' }).waitFor({ timeout: 20_000 });
    await owner.page.getByTestId('control-state').filter({ hasText: 'Everyone may drive' }).waitFor({ timeout: 10_000 });

    await guest.page.goto(`${server.http}/session.html?token=${ADMIN}&name=Root`);
    await guest.page.getByTestId('existing').locator('option[value="page"]').waitFor({ state: 'attached', timeout: 10_000 });
    await guest.page.getByTestId('existing').selectOption('page');
    await guest.page.waitForFunction(() => (document.querySelector('[data-testid=screen]') as HTMLImageElement).naturalWidth === 320, undefined, { timeout: 20_000 });
    const names = (page: typeof owner.page) => page.getByTestId('presence-item').allTextContents();
    await owner.page.getByTestId('presence-item').filter({ hasText: 'Root' }).waitFor({ timeout: 10_000 });
    assert.match((await names(owner.page)).join(' | '), /^Alice \(you\) · viewer · since .+ \| Root · viewer · since .+$/);

    // Alice asks for control: both pages say so, and Root's page shows it watches only.
    await owner.page.getByTestId('control-request').click();
    await owner.page.getByTestId('control-state').filter({ hasText: 'You control' }).waitFor({ timeout: 10_000 });
    await guest.page.getByTestId('control-state').filter({ hasText: 'Alice controls' }).waitFor({ timeout: 10_000 });
    await guest.page.getByTestId('presence-item').filter({ hasText: 'Alice · controller' }).waitFor({ timeout: 10_000 });
    assert.equal(await guest.page.getByTestId('control-note').isVisible(), true);

    // Root's clicks on the picture do not reach the page; Alice's do.
    const screen = (page: typeof owner.page) => page.getByTestId('screen');
    await screen(guest.page).click({ position: { x: 30, y: 30 } });
    await screen(owner.page).click({ position: { x: 60, y: 60 } });
    const remote = (await server.server.sessions.get('page')!.page()).page;
    await remote.waitForFunction(() => (window as any).seen.clicks.length > 0, undefined, { timeout: 20_000 });

    // Root asks; Alice grants on her page; now Root controls.
    await guest.page.getByTestId('control-request').click();
    await owner.page.getByTestId('control-request-item').filter({ hasText: 'Root asks for control' }).waitFor({ timeout: 10_000 });
    await owner.page.locator('[data-testid^="grant-"]').click();
    await guest.page.getByTestId('control-state').filter({ hasText: 'You control' }).waitFor({ timeout: 10_000 });
    await owner.page.getByTestId('control-state').filter({ hasText: 'Root controls' }).waitFor({ timeout: 10_000 });
    await screen(guest.page).click({ position: { x: 90, y: 90 } });
    await remote.waitForFunction(() => (window as any).seen.clicks.length > 1, undefined, { timeout: 20_000 });
    // The picture is shown at about its own size (320x240): page coordinates are near the click positions
    // (a pixel off, as the picture's box rounds). Root's first click is not among them.
    const clicks = (await seen('page')).clicks;
    assert.equal(clicks.length, 2, JSON.stringify(clicks));
    for (const [i, at] of [60, 90].entries()) assert.ok(Math.abs(clicks[i]![0]! - at) <= 2 && Math.abs(clicks[i]![1]! - at) <= 2, JSON.stringify(clicks));

    // Root (now the controller) shares pointers; Alice's pointer shows over Root's picture, named.
    await guest.page.getByTestId('pointer-share').check();
    await owner.page.getByTestId('pointer-share').and(owner.page.locator(':checked')).waitFor({ state: 'attached', timeout: 10_000 });
    await screen(owner.page).hover({ position: { x: 160, y: 120 } });
    await screen(owner.page).hover({ position: { x: 161, y: 121 } });
    await guest.page.getByTestId('pointer').filter({ hasText: 'Alice' }).waitFor({ timeout: 10_000 });
    assert.equal(await owner.page.getByTestId('pointer').count(), 0, 'a page does not show its own pointer');
    assert.deepEqual(owner.errors, []);
    assert.deepEqual(guest.errors, []);
  });
});
