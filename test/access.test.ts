import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { WebSocket, type RawData } from 'ws';
import { io as connect, type Socket } from 'socket.io-client';
import { Access, allows, openWarning, parseAccessTokens } from '../src/server/access.js';
import { loadConfig } from '../src/config/config.js';
import { nextJson } from './helpers.js';
import { JWT_SECRET, numberedPng, startGenServer, type GenServer } from './generations-helpers.js';
import { nextEvent, withTimeout } from './wait.js';

const secret = new TextEncoder().encode(JWT_SECRET);
const AUDIENCE = 'framehub-test';
const ISSUER = 'https://issuer.test';
const STATIC_VIEW = 'static-view-token-0123456789';
const STATIC_ADMIN = 'static-admin-token-0123456789';

/** A token of the test issuer for `aud` framehub-test; `claims` may override any of it. */
function jwt(scope: string | undefined, sub = 'alice', claims: Record<string, unknown> = {}, exp: string | number | null = '5m'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let token = new SignJWT({ ...(scope !== undefined && { scope }), aud: AUDIENCE, iss: ISSUER, iat: now, ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub);
  if (exp !== null) token = token.setExpirationTime(exp);
  return token.sign(secret);
}

/** The code of a refusal in any route's shape: seeds/002's `{error: {code}}`, the producer's `{error: code}`. */
const codeOf = (message: any): unknown => message?.error?.code ?? message?.error ?? message?.payload?.code;

/** Opens `url` and resolves with the first text message (if any) and the close, or `open` if the server kept it. */
function wsOutcome(url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<{ message?: any; code?: number; reason?: string; opened: boolean; ws: WebSocket }> {
  const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
  return withTimeout(new Promise((resolve) => {
    let message: any;
    let opened = false;
    ws.on('error', () => {});
    ws.on('open', () => (opened = true));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return resolve({ message: { binary: true }, opened, ws });
      message ??= JSON.parse(data.toString());
      if (message.type === 'frame' || message.type === 'stats') resolve({ message, opened, ws });
    });
    ws.on('close', (code, reason) => resolve({ message, code, reason: reason.toString(), opened, ws }));
  }), 15_000, `an answer from ${url.replace(/token=[^&]+/, 'token=…')}`);
}

describe('scopes', () => {
  it('admin grants everything, view every stream, control every session and the view of it', () => {
    const s = (...scopes: string[]) => new Set(scopes);
    assert.ok(allows(s('admin'), 'publish'));
    assert.ok(allows(s('view'), 'view:demo'));
    assert.ok(allows(s('view:demo'), 'view:demo'));
    assert.ok(!allows(s('view:demo'), 'view:other'));
    assert.ok(!allows(s('view:demo'), 'view'));
    assert.ok(allows(s('control:abc'), 'view:session:abc'));
    assert.ok(allows(s('control'), 'view:session:abc'));
    assert.ok(!allows(s('control:abc'), 'view:session:abd'));
    assert.ok(!allows(s('control:abc'), 'view:demo'));
    assert.ok(!allows(s('view'), 'control:abc'));
    assert.ok(!allows(s('view:session:abc'), 'control:abc'));
    assert.ok(!allows(s('control:abc'), 'control'));
    assert.ok(!allows(s('publish'), 'view'));
  });

  it('reads ACCESS_TOKENS and the JWT rules from env, flags and YAML, and refuses a malformed list', () => {
    const config = loadConfig({ env: { ACCESS_TOKENS: `${STATIC_VIEW}=view:demo view:other; ${STATIC_ADMIN}=admin` } });
    assert.deepEqual(parseAccessTokens(config.accessTokens).map((t) => [t.token, [...t.scopes]]), [[STATIC_VIEW, ['view:demo', 'view:other']], [STATIC_ADMIN, ['admin']]]);
    assert.equal(loadConfig({ flags: { 'access-tokens': `${STATIC_ADMIN}=admin`, 'jwt-max-age': '600', 'jwt-audience': AUDIENCE } }).jwtMaxAge, 600);
    const dir = mkdtempSync(join(tmpdir(), 'framehub-access-'));
    const file = join(dir, 'framehub.yaml');
    writeFileSync(file, `accessTokens: "${STATIC_VIEW}=view:demo"\njwtIssuer: ${ISSUER}\njwtDefaultScopes: view\n`);
    const fromYaml = loadConfig({ file });
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual([fromYaml.accessTokens, fromYaml.jwtIssuer, fromYaml.jwtDefaultScopes], [`${STATIC_VIEW}=view:demo`, ISSUER, 'view']);
    assert.throws(() => loadConfig({ env: { ACCESS_TOKENS: 'short=view' } }), /ACCESS_TOKENS/);
    assert.throws(() => loadConfig({ env: { ACCESS_TOKENS: `${STATIC_VIEW}=` } }), /ACCESS_TOKENS/);
  });

  it('reads scopes from scope, scp or scopes; a token without any gets JWT_DEFAULT_SCOPES (none unless set)', async () => {
    const strict = new Access(loadConfig({ overrides: { jwtSecret: JWT_SECRET } }));
    const lenient = new Access(loadConfig({ overrides: { jwtSecret: JWT_SECRET, jwtDefaultScopes: 'view:demo' } }));
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setIssuedAt().setExpirationTime('5m').sign(secret);
    assert.deepEqual([...(await strict.identify(await sign({ scp: ['view:a', 'control:b'] }))).scopes], ['view:a', 'control:b']);
    assert.deepEqual([...(await strict.identify(await sign({ scopes: 'publish admin' }))).scopes], ['publish', 'admin']);
    const bare = await sign({});
    await assert.rejects(strict.authorize(bare, 'view:demo'), (error: any) => error.code === 'scope_missing' && error.status === 403);
    assert.equal((await lenient.authorize(bare, 'view:demo')).userId, 'u');
    await assert.rejects(lenient.authorize(await sign({ scope: 'publish' }), 'view:demo'), /scope view:demo/, 'a token that names its scopes gets no defaults');
    assert.ok(strict.open === false && new Access(loadConfig({})).open, 'nothing configured = open');
    assert.ok(new Access(loadConfig({ overrides: { producerToken: 'producer-only-token' } })).open, 'PRODUCER_TOKEN alone does not close the routes');
  });

  it('warns about an open server beyond loopback only', () => {
    assert.equal(openWarning('127.0.0.1'), undefined);
    assert.equal(openWarning('::1'), undefined);
    assert.match(openWarning('0.0.0.0') ?? '', /OPEN/);
  });
});

describe('one access model on every route (JWT_SECRET, JWT_AUDIENCE, JWT_ISSUER, ACCESS_TOKENS)', () => {
  let srv: GenServer;
  const sockets: Socket[] = [];
  const open = (auth?: Record<string, unknown>) => {
    const socket = connect(srv.http, { reconnection: false, transports: ['websocket'], ...(auth && { auth }) });
    sockets.push(socket);
    return socket;
  };
  const get = async (path: string, token?: string, init: RequestInit = {}) => {
    const response = await fetch(srv.http + path, { ...init, headers: { ...(token && { authorization: `Bearer ${token}` }), ...(init.headers as Record<string, string>) } });
    const text = await response.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch { /* a PNG or Prometheus text */ }
    return { status: response.status, body, headers: response.headers };
  };

  before(async () => {
    srv = await startGenServer({
      jwtSecret: JWT_SECRET, jwtAudience: AUDIENCE, jwtIssuer: ISSUER,
      accessTokens: `${STATIC_VIEW}=view:demo; ${STATIC_ADMIN}=admin`,
      streams: { demo: { source: 'pattern', width: 160, height: 90, fps: 15 }, other: { source: 'pattern', width: 160, height: 90, fps: 15 } },
    });
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await srv.close();
  });

  it('refuses missing, expired, foreign-audience, foreign-issuer, too old and exp-less tokens on a stream socket with 4401 and the reason', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string | undefined, string, RegExp][] = [
      ['missing', undefined, 'token_missing', /no token/],
      ['expired', await jwt('view', 'alice', {}, now - 60), 'token_expired', /expired/],
      ['foreign audience', await jwt('view', 'alice', { aud: 'someone-else' }), 'token_invalid', /aud/],
      ['foreign issuer', await jwt('view', 'alice', { iss: 'https://evil.test' }), 'token_invalid', /iss/],
      ['too old', await jwt('view', 'alice', { iat: now - 2 * 86_400 }), 'token_too_old', /JWT_MAX_AGE/],
      ['too old without iat', await jwt('view', 'alice', { iat: undefined }, now + 400 * 86_400), 'token_too_old', /JWT_MAX_AGE/],
      ['iat in the future', await jwt('view', 'alice', { iat: now + 10 * 86_400 }, now + 10 * 86_400 + 60), 'token_invalid', /iat/],
      ['no exp', await jwt('view', 'alice', {}, null), 'token_invalid', /no exp claim/],
      ['unknown static token', 'not-a-configured-token-000', 'token_invalid', /not a JWT/],
    ];
    for (const [what, token, code, reason] of cases) {
      const outcome = await wsOutcome(`${srv.ws}/stream/demo${token ? `?token=${token}` : ''}`);
      assert.equal(outcome.code, 4401, what);
      assert.equal(codeOf(outcome.message), code, `${what}: ${JSON.stringify(outcome.message)}`);
      assert.match(outcome.reason ?? '', reason, what);
    }
  });

  it('a view:demo token watches demo but not another stream (4403 scope_missing), by query, header or subprotocol', async () => {
    const token = await jwt('view:demo');
    const byQuery = await wsOutcome(`${srv.ws}/stream/demo?token=${token}`);
    assert.equal(byQuery.message?.type, 'frame');
    byQuery.ws.close();
    const byHeader = await wsOutcome(`${srv.ws}/ws/video_feed?stream=demo`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(byHeader.message, { binary: true });
    byHeader.ws.close();
    const bySubprotocol = await wsOutcome(`${srv.ws}/stream/demo`, { protocols: ['bearer', token] });
    assert.equal(bySubprotocol.message?.type, 'frame');
    bySubprotocol.ws.close();

    const other = await wsOutcome(`${srv.ws}/stream/other?token=${token}`);
    assert.equal(other.code, 4403);
    assert.equal(codeOf(other.message), 'scope_missing');
    const feed = await wsOutcome(`${srv.ws}/ws/video_feed?stream=other&token=${token}`);
    assert.equal(feed.code, 4403);
    const primary = await wsOutcome(`${srv.ws}/ws/video_feed?token=${token}`);
    assert.equal(primary.code, 4403, 'the primary stream is stream 0, not a name a view:demo token holds');
  });

  it('a stream socket and a Socket.IO connection end with 4401 token_expired when the token expires', async () => {
    const soon = Math.floor(Date.now() / 1000) + 2;
    const watched = await wsOutcome(`${srv.ws}/stream/demo?token=${await jwt('view:demo', 'alice', {}, soon)}`);
    assert.equal(watched.message?.type, 'frame');
    const closed = await withTimeout(new Promise<{ code: number; reason: string }>((resolve) => watched.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))), 10_000, 'the close at exp');
    assert.deepEqual(closed, { code: 4401, reason: 'unauthorized: token expired' });

    const socket = open({ token: await jwt('view:demo', 'alice', {}, Math.floor(Date.now() / 1000) + 2) });
    await nextEvent(socket, 'connect');
    const expired = nextEvent<{ code: string }>(socket, 'error', undefined, 10_000);
    const disconnected = nextEvent<string>(socket, 'disconnect', undefined, 10_000);
    assert.equal((await expired).code, 'token_expired');
    assert.equal(await disconnected, 'io server disconnect');
  });

  it('/ws asks for view like every route: view:demo is 4403 after a seeds/001 error envelope', async () => {
    const outcome = await wsOutcome(`${srv.ws}/ws?token=${await jwt('view:demo')}`);
    assert.equal(outcome.code, 4403);
    assert.equal(outcome.message?.payload?.code, 'scope_missing');
  });

  it('Socket.IO also takes the token from ?token= and Authorization: Bearer', async () => {
    const token = await jwt('view:demo');
    const byQuery = connect(srv.http, { reconnection: false, transports: ['websocket'], query: { token } });
    const byHeader = connect(srv.http, { reconnection: false, transports: ['polling'], extraHeaders: { authorization: `Bearer ${token}` } });
    sockets.push(byQuery, byHeader);
    await Promise.all([nextEvent(byQuery, 'connect'), nextEvent(byHeader, 'connect')]);
    assert.equal((await byHeader.emitWithAck('subscribe', { stream: 'demo' })).stream, 'demo');
  });

  it('static tokens from ACCESS_TOKENS hold their scopes', async () => {
    const demo = await wsOutcome(`${srv.ws}/stream/demo?token=${STATIC_VIEW}`);
    assert.equal(demo.message?.type, 'frame');
    demo.ws.close();
    assert.equal((await wsOutcome(`${srv.ws}/stream/other?token=${STATIC_VIEW}`)).code, 4403);
    assert.equal((await get('/api/sessions', STATIC_ADMIN)).status, 200);
  });

  it('REST: 401 with WWW-Authenticate without a token, 403 without the scope; /api/sessions takes control, /metrics admin', async () => {
    const none = await get('/api/streams');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal(none.body.error, 'token_missing');
    assert.equal((await get('/api/streams', await jwt('view:demo'))).status, 403);
    assert.equal((await get('/api/streams', await jwt('view'))).status, 200);
    assert.equal((await get(`/api/streams?token=${await jwt('view')}`)).status, 200, '?token= works on REST too');

    // Bare control lists the caller's own sessions (test/access-owner.test.ts has what it lists); a share or view may not list.
    for (const scope of ['view', 'control:abc', 'publish view view:session:abc']) {
      const sessions = await get('/api/sessions', await jwt(scope));
      assert.equal(sessions.status, 403, scope);
      assert.deepEqual(sessions.body, { success: false, error: 'forbidden: the token lacks scope control' });
    }
    assert.deepEqual((await get('/api/sessions', await jwt('control'))).body, { success: true, sessions: [] });
    assert.equal((await get('/api/sessions', await jwt('admin'))).status, 200);
    assert.equal((await get('/api/sessions', undefined, { method: 'HEAD' })).status, 401, 'HEAD asks as GET does');
    assert.equal((await get('/metrics', await jwt('view'))).status, 403);
    assert.equal((await get('/metrics', await jwt('admin'))).status, 200);
    assert.equal((await get('/healthz')).status, 200, '/healthz stays open');
    assert.equal((await get('/')).status, 200, 'the pages stay open');
  });

  it('a view token cannot create, drive or delete sessions (REST, 403 before any session is looked up)', async () => {
    const view = await jwt('view');
    const json = { 'content-type': 'application/json' };
    const create = await get('/api/session/create', view, { method: 'POST', headers: json, body: '{}' });
    assert.equal(create.status, 403);
    assert.equal(create.body.success, false);
    for (const [method, path] of [['POST', '/api/session/abc/input'], ['POST', '/api/session/abc/load'], ['POST', '/api/session/abc/keepalive'], ['DELETE', '/api/session/abc']]) {
      const answer = await get(path!, view, { method: method!, headers: json, body: '{}' });
      // `view` covers watching every session, never driving one.
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.match(answer.body.error, /control:abc/);
    }
    assert.equal((await get('/api/session/abc/frame', view)).status, 404, 'watching is allowed: the session just does not exist');
    assert.equal((await get('/api/session/abc/frame', await jwt('control:abd'))).status, 403);
    assert.equal((await get('/api/session/abc/frame', await jwt('control:abc'))).status, 404, 'control:abc also sees session abc');
  });

  it('Socket.IO: auth {token} in the handshake; no token is connect_error 4401; subscribe needs view of the stream', async () => {
    const refused = open();
    const error = await nextEvent<Error & { data?: any }>(refused, 'connect_error');
    assert.deepEqual(error.data, { code: 'token_missing', close_code: 4401 });
    const expired = open({ token: await jwt('view', 'alice', {}, Math.floor(Date.now() / 1000) - 5) });
    assert.equal((await nextEvent<Error & { data?: any }>(expired, 'connect_error')).data.code, 'token_expired');

    // seeds/003's production advice, word for word: io(url, { auth: { token } }).
    const socket = open({ token: await jwt('view:demo') });
    await nextEvent(socket, 'connect');
    const subscribed = await socket.emitWithAck('subscribe', { stream: 'demo' });
    assert.equal(subscribed.stream, 'demo');
    await nextEvent(socket, 'frame');
    const other = await socket.emitWithAck('subscribe', { stream: 'other' });
    assert.equal(other.error?.code, 'scope_missing');
    const session = await socket.emitWithAck('subscribe', { session_id: 'abc' });
    assert.equal(session.error?.code, 'scope_missing', 'a refusal says nothing of whether session abc exists');
  });

  it('generations: user A does not see user B\'s images on /ws/streaming, /api/images or /images/*; caches are private', async () => {
    const { json: a } = await srv.api('POST', '/api/generations', { prompt: 'alice only', user_id: 'alice' });
    const { json: b } = await srv.api('POST', '/api/generations', { prompt: 'bob only', user_id: 'bob' });
    const alice = await jwt('view', 'alice');
    const bob = await jwt('view', 'bob');

    const streaming = new WebSocket(`${srv.ws}/ws/streaming?token=${alice}`);
    streaming.on('error', () => {});
    const received: any[] = [];
    streaming.on('message', (data) => received.push(JSON.parse(data.toString())));
    await new Promise((resolve) => streaming.once('open', resolve));
    const anonymous = await wsOutcome(`${srv.ws}/ws/streaming`);
    assert.equal(anonymous.code, 4401);

    const bobImage = await srv.publishImage(b.job_id, await numberedPng(7), { imageIdx: 0, imageLength: 1 });
    const aliceImage = await srv.publishImage(a.job_id, await numberedPng(8), { imageIdx: 0, imageLength: 1 });
    await nextJson(streaming, (m) => m.type === 'image-generated');
    streaming.close();
    const prompts = received.filter((m) => m.type === 'image-generated').map((m) => m.data.params.positivePrompt);
    assert.deepEqual(prompts, ['alice only'], 'bob\'s image (published first) never reached alice');

    const list = await get('/api/images', alice);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.images.map((i: any) => i.prompt), ['alice only']);
    assert.equal(list.body.total, 1);
    assert.match(list.headers.get('cache-control') ?? '', /private/);
    assert.equal((await get('/api/images')).status, 401);

    const own = await get(aliceImage.json.image_url, alice);
    assert.equal(own.status, 200);
    assert.equal(own.headers.get('cache-control'), 'private, max-age=86400');
    assert.equal((await get(aliceImage.json.image_url, bob)).status, 404, 'another user\'s image does not exist for bob');
    assert.equal((await get(`${bobImage.json.image_url}?token=${bob}`)).status, 200, '<img src> carries ?token=');
    assert.equal((await get(bobImage.json.image_url)).status, 401);
    const everyone = await get('/api/images', await jwt('view generations:all', 'root'));
    assert.equal(everyone.body.total, 2, 'generations:all sees every user\'s images');
  });

  it('/ws/producer and the publish API take any token with publish; a view token is 403 / 4403', async () => {
    const view = await jwt('view');
    const refused = await wsOutcome(`${srv.ws}/ws/producer?token=${view}`);
    assert.equal(refused.code, 4403);
    assert.equal(refused.message?.error, 'scope_missing');
    const rest = await get('/api/generations', view, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    assert.equal(rest.status, 403);
    const publisher = await get('/api/generations', await jwt('publish'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    assert.equal(publisher.status, 201);
  });
});
