import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { WebSocket, type RawData } from 'ws';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { reaches } from '../src/server/access.js';
import type { Principal } from '../src/server/auth.js';
import { BLUE, RED, frameOfColour, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent, withTimeout } from './wait.js';

const SECRET = 'access-owner-secret-0123456789';
const SHARE_CONTROL = 'owner-share-control-0123456789';
const SHARE_VIEW = 'owner-share-view-token-0123456789';
const ADMIN = 'owner-admin-token-0123456789';
const STATIC_CONTROL = 'owner-static-control-0123456789';

/** An HS256 JWT of the test's secret; `sub` null leaves the claim out. */
function jwt(scope: string, sub: string | null): Promise<string> {
  let token = new SignJWT({ scope }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m');
  if (sub !== null) token = token.setSubject(sub);
  return token.sign(new TextEncoder().encode(SECRET));
}

/** Opens `url` and resolves with the first text message and the close, or the first frame if the server kept it open. */
function wsOutcome(url: string): Promise<{ message?: any; code?: number; ws: WebSocket }> {
  const ws = new WebSocket(url);
  return withTimeout(new Promise((resolve) => {
    let message: any;
    // The close below answers; an error event (a refused upgrade) needs a listener all the same.
    ws.on('error', () => {});
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return resolve({ message: { binary: true }, ws });
      message ??= JSON.parse(data.toString());
      if (message.type === 'frame') resolve({ message, ws });
    });
    ws.on('close', (code) => resolve({ message, code, ws }));
  }), 20_000, `an answer from ${url.replace(/token=[^&]+/, 'token=…')}`);
}

describe('reaches: who gets at an owned session', () => {
  const who = (owner: string | undefined, ...scopes: string[]): Principal => ({ userId: undefined, all: false, scopes: new Set(scopes), ...(owner && { owner }) });
  it('bare view and control reach the principal\'s own only; shares and admin reach anyone\'s; no owner means scopes alone', () => {
    assert.ok(reaches(who('user:a', 'control'), 'control:s', 'user:a'));
    assert.ok(reaches(who('user:a', 'view'), 'view:session:s', 'user:a'));
    assert.ok(!reaches(who('user:b', 'control'), 'control:s', 'user:a'));
    assert.ok(!reaches(who('user:b', 'control', 'view'), 'view:session:s', 'user:a'));
    assert.ok(!reaches(who(undefined, 'control', 'view'), 'view:session:s', 'user:a'), 'a token without an owner owns nothing');
    assert.ok(reaches(who('user:b', 'control:s'), 'control:s', 'user:a'));
    assert.ok(reaches(who('user:b', 'control:s'), 'view:session:s', 'user:a'), 'who drives a page sees it');
    assert.ok(reaches(who('user:b', 'view:session:s'), 'view:session:s', 'user:a'));
    assert.ok(!reaches(who('user:b', 'view:session:s', 'control'), 'control:s', 'user:a'), 'a view share does not make bare control drive');
    assert.ok(!reaches(who('user:b', 'control:t'), 'control:s', 'user:a'));
    assert.ok(reaches(who('user:b', 'admin'), 'control:s', 'user:a'));
    assert.ok(reaches(who(undefined, 'control'), 'control:s', undefined), 'an open server\'s session has no owner');
    assert.ok(!reaches(who(undefined, 'view'), 'control:s', undefined), 'the scope still decides');
  });
});

/**
 * Browser sessions belong to whoever created them (real Chromium, JWTs and static tokens):
 * another owner's session answers as an unknown id on every route; shares and admin reach it.
 */
describe('browser sessions have owners (real Chromium)', () => {
  let pages: PageServer;
  let server: TestServer;
  const sockets: Socket[] = [];
  const tokens: Record<string, string> = {};
  const open = (token: string) => {
    const socket = connect(server.http, { reconnection: false, transports: ['websocket'], auth: { token } });
    sockets.push(socket);
    return socket;
  };
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(server.http + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const type = response.headers.get('content-type') ?? '';
    return { status: response.status, body: type.startsWith('application/json') ? await response.json() as any : await response.text() };
  };

  before(async () => {
    tokens['alice'] = await jwt('control', 'alice');
    tokens['bob'] = await jwt('control view', 'bob');
    tokens['bobView'] = await jwt('view', 'bob');
    // Bare control and a share of alice's session: the share lets bob watch it, not drive it.
    tokens['bobShared'] = await jwt('control view:session:own-a', 'bob');
    tokens['carol'] = await jwt('control', 'carol');
    tokens['nobody'] = await jwt('control', null);
    pages = await startPageServer();
    server = await startSessionServer({
      jwtSecret: SECRET,
      accessTokens: `${SHARE_CONTROL}=control:own-a; ${SHARE_VIEW}=view:session:own-a; ${ADMIN}=admin; ${STATIC_CONTROL}=control`,
      // The per-IP cap (every test client is 127.0.0.1) must not be what stops the creates below.
      maxSessions: 20,
      maxSessionsPerIp: 20,
      maxSessionsPerUser: 3,
    });
    const created = await call('POST', '/api/session/create', tokens['alice']!, { session_id: 'own-a', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.owner, 'user:alice');
    assert.equal((await call('POST', '/api/session/own-a/load', tokens['alice']!, { url: `${pages.origin}/` })).status, 200);
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('REST: another owner gets the unknown id\'s 404 on every route; the owner, both shares and admin reach the session', async () => {
    const bob = tokens['bob']!;
    const unknown = await call('GET', '/api/session/nope/frame', bob);
    assert.deepEqual(unknown, { status: 404, body: { success: false, error: 'no session "nope"' } });
    const notFound = { status: 404, body: { success: false, error: 'no session "own-a"' } };
    assert.deepEqual(await call('GET', '/api/session/own-a/frame', bob), notFound, 'frame');
    assert.deepEqual(await call('GET', '/api/session/own-a/frame/data', bob), notFound, 'frame/data');
    assert.deepEqual(await call('GET', '/api/session/own-a/viewer', bob), notFound, 'viewer');
    assert.deepEqual(await call('POST', '/api/session/own-a/load', bob, { url: `${pages.origin}/` }), notFound, 'load');
    assert.deepEqual(await call('POST', '/api/session/own-a/input', bob, { type: 'click', x: 100, y: 100 }), notFound, 'input');
    assert.deepEqual(await call('POST', '/api/session/own-a/keepalive', bob), notFound, 'keepalive');
    assert.deepEqual(await call('DELETE', '/api/session/own-a', bob), notFound, 'delete');
    assert.deepEqual(await call('GET', '/api/session/own-a/frame/data', tokens['bobView']!), notFound, 'bare view');

    // Nothing bob sent reached it: it is still there, and still red for its owner.
    const own = await call('GET', '/api/session/own-a/frame/data', tokens['alice']!);
    assert.equal(own.status, 200);
    assert.equal(own.body.session_id, 'own-a');
    assert.equal((await call('GET', '/api/session/own-a/frame/data', SHARE_VIEW)).status, 200, 'view:session:own-a watches');
    assert.equal((await call('POST', '/api/session/own-a/input', SHARE_VIEW, { type: 'key', key: 'a' })).status, 403, 'a view share does not drive');
    assert.equal((await call('GET', '/api/session/own-a/frame/data', tokens['bobShared']!)).status, 200, 'bob with the view share watches');
    assert.deepEqual(await call('POST', '/api/session/own-a/input', tokens['bobShared']!, { type: 'key', key: 'a' }), notFound, 'bare control does not drive through a view share');
    assert.equal((await call('POST', '/api/session/own-a/keepalive', SHARE_CONTROL)).status, 200, 'control:own-a drives');
    assert.equal((await call('POST', '/api/session/own-a/input', SHARE_CONTROL, { type: 'key', key: 'a' })).status, 200);
    assert.equal((await call('GET', '/api/session/own-a/frame', ADMIN)).status, 200, 'admin');
    assert.equal((await call('POST', '/api/session/own-a/keepalive', ADMIN)).status, 200);
  });

  it('Socket.IO: another owner\'s subscribe and input get the unknown id\'s answers; owner, shares and admin subscribe', async () => {
    const bob = open(tokens['bob']!);
    await nextEvent(bob, 'connect');
    const unknown = await bob.emitWithAck('subscribe', { session_id: 'nope' });
    assert.deepEqual(unknown, { error: { code: 'session_not_found', message: 'no session "nope"; create it with POST /api/session/create' } });
    assert.deepEqual(await bob.emitWithAck('subscribe', { session_id: 'own-a' }), { error: { code: 'session_not_found', message: 'no session "own-a"; create it with POST /api/session/create' } });
    assert.deepEqual(await bob.emitWithAck('subscribe', { stream: 'session:own-a' }), { error: { code: 'stream_not_found', message: 'no stream with id "session:own-a"' } });
    assert.deepEqual(await bob.emitWithAck('subscribe', { stream: 'session:nope' }), { error: { code: 'stream_not_found', message: 'no stream with id "session:nope"' } });
    const input = await bob.emitWithAck('input:click', { x: 100, y: 100 });
    assert.equal(input.error?.code, 'input_not_accepted', 'bob never got a subscription to send input to');

    // A view share with bare control: bob watches alice's page, and his input is "no such session".
    const shared = open(tokens['bobShared']!);
    const red = frameOfColour(shared, RED);
    assert.equal((await shared.emitWithAck('subscribe', { session_id: 'own-a' })).session_id, 'own-a');
    await red;
    assert.deepEqual(await shared.emitWithAck('input:click', { x: 100, y: 100 }), { error: { code: 'session_not_found', message: 'no session "own-a"; create it with POST /api/session/create' } });

    for (const token of [SHARE_VIEW, ADMIN]) {
      const viewer = open(token);
      assert.equal((await viewer.emitWithAck('subscribe', { stream: 'session:own-a' })).stream, 'session:own-a');
    }
    // The owner's click reaches the page (the share's viewer sees it turn blue); control:own-a's too.
    const alice = open(tokens['alice']!);
    assert.equal((await alice.emitWithAck('subscribe', { session_id: 'own-a' })).session_id, 'own-a');
    const blue = frameOfColour(shared, BLUE);
    assert.deepEqual(await alice.emitWithAck('input:click', { x: 100, y: 100 }), { type: 'click' });
    await blue;
    const driver = open(SHARE_CONTROL);
    assert.equal((await driver.emitWithAck('subscribe', { session_id: 'own-a' })).session_id, 'own-a');
    const redAgain = frameOfColour(shared, RED);
    assert.deepEqual(await driver.emitWithAck('input:click', { x: 100, y: 100 }), { type: 'click' });
    await redAgain;
  });

  it('WebSocket: another owner\'s session stream closes 4404 stream_not_found, as an unknown one; owner, share and admin get frames', async () => {
    for (const path of ['/stream/session:own-a?', '/ws/video_feed?stream=session:own-a&', '/video/session:own-a?']) {
      for (const token of [tokens['bob']!, tokens['bobView']!]) {
        const refused = await wsOutcome(`${server.ws}${path}token=${token}`);
        assert.equal(refused.code, 4404, path);
        assert.deepEqual(refused.message?.error, { code: 'stream_not_found', message: 'no stream with id "session:own-a"' }, path);
      }
      const unknown = await wsOutcome(`${server.ws}${path.replace('own-a', 'nope')}token=${tokens['bob']!}`);
      assert.equal(unknown.code, 4404);
      assert.deepEqual(unknown.message?.error, { code: 'stream_not_found', message: 'no stream with id "session:nope"' });
    }
    for (const token of [tokens['alice']!, SHARE_VIEW, tokens['bobShared']!, ADMIN]) {
      const watched = await wsOutcome(`${server.ws}/stream/session:own-a?token=${token}`);
      assert.equal(watched.message?.type, 'frame');
      watched.ws.close();
    }
  });

  it('GET /api/sessions: bare control lists its own, admin every session with its owner; a static token owns by its digest', async () => {
    const created = await call('POST', '/api/session/create', tokens['bob']!, { session_id: 'own-b', width: 320, height: 240 });
    assert.equal(created.status, 201);
    assert.equal((await call('POST', '/api/session/create', STATIC_CONTROL, { session_id: 'own-static', width: 320, height: 240 })).status, 201);
    const ids = (answer: { body: any }) => answer.body.sessions.map((s: any) => `${s.session_id} ${s.owner}`).sort();
    assert.deepEqual(ids(await call('GET', '/api/sessions', tokens['alice']!)), ['own-a user:alice']);
    assert.deepEqual(ids(await call('GET', '/api/sessions', tokens['bob']!)), ['own-b user:bob']);
    const digest = createHash('sha256').update(STATIC_CONTROL).digest('hex').slice(0, 12);
    assert.deepEqual(ids(await call('GET', '/api/sessions', STATIC_CONTROL)), [`own-static token:${digest}`]);
    assert.deepEqual(ids(await call('GET', '/api/sessions', ADMIN)), ['own-a user:alice', 'own-b user:bob', `own-static token:${digest}`]);
    assert.deepEqual(await call('GET', '/api/sessions', tokens['carol']!), { status: 200, body: { success: true, sessions: [] } });
    // A share is one session, not a list: listing takes bare control.
    assert.equal((await call('GET', '/api/sessions', SHARE_CONTROL)).status, 403);
    assert.equal((await call('GET', '/api/sessions', tokens['bobView']!)).status, 403);
    assert.equal((await call('DELETE', '/api/session/own-static', tokens['alice']!)).status, 404);
    assert.equal((await call('DELETE', '/api/session/own-static', STATIC_CONTROL)).status, 200);
    assert.equal((await call('DELETE', '/api/session/own-b', ADMIN)).status, 200, 'admin deletes anyone\'s');
  });

  it('MAX_SESSIONS_PER_USER: the 4th session of one owner is 429, others still create; a JWT without sub gets 403', async () => {
    for (const n of [1, 2, 3]) {
      const created = await call('POST', '/api/session/create', tokens['carol']!, { session_id: `carol-${n}`, width: 320, height: 240 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const fourth = await call('POST', '/api/session/create', tokens['carol']!, { session_id: 'carol-4', width: 320, height: 240 });
    assert.equal(fourth.status, 429);
    assert.deepEqual(fourth.body, { success: false, error: 'too many sessions of yours: 3 at most each (MAX_SESSIONS_PER_USER); delete one or try later' });
    const other = await call('POST', '/api/session/create', tokens['bob']!, { session_id: 'bob-while-carol-full', width: 320, height: 240 });
    assert.equal(other.status, 201, 'the cap is per owner');
    assert.equal((await call('DELETE', '/api/session/carol-1', tokens['carol']!)).status, 200);
    assert.equal((await call('POST', '/api/session/create', tokens['carol']!, { session_id: 'carol-4', width: 320, height: 240 })).status, 201, 'a deleted one frees a place');

    const subless = await call('POST', '/api/session/create', tokens['nobody']!, { session_id: 'nobodys', width: 320, height: 240 });
    assert.equal(subless.status, 403);
    assert.deepEqual(subless.body, { success: false, error: 'forbidden: a session needs an owner, and this token names none (a JWT without sub)' });
    assert.equal((await call('GET', '/api/session/nobodys/frame', ADMIN)).status, 404, 'nothing was created');
  });
});
