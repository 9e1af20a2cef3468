import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { WebSocket, type RawData } from 'ws';
import { io as connect, type Socket } from 'socket.io-client';
import { loadConfig, type Config } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import { ShareLinks, SHARE_TOKEN_TYPE } from '../src/server/share-links.js';
import { AuthError } from '../src/server/auth.js';
import type { TestServer } from './helpers.js';
import { FakeClock } from './fake-clock.js';
import { frameOfColour, RED, startPageServer, type PageServer } from './session-helpers.js';
import { launchBrowser, type TestBrowser } from './browser-helpers.js';
import { nextEvent, withTimeout } from './wait.js';

const SECRET = 'share-links-jwt-secret-0123456789';
const ADMIN = 'share-links-admin-token-0123456789';
const VIEWER = 'share-links-view-token-0123456789';
const START = Date.UTC(2026, 0, 1);

/** A wall clock that only moves when told to (FakeClock counts from 0). */
class WallFakeClock extends FakeClock {
  override now(): number {
    return START + super.now();
  }
}

/** A framehub whose share links run on `clock`, sessions allowed to load the page server on 127.0.0.1. */
async function startShareServer(clock: FakeClock, overrides: Partial<Config> = {}): Promise<TestServer> {
  const config = loadConfig({
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      idleGrace: 0.2,
      browserAllowHosts: '127.0.0.1',
      streams: { demo: { source: 'pattern', width: 320, height: 180, fps: 30 }, other: { source: 'pattern', width: 160, height: 90, fps: 10 } },
      ...overrides,
    },
  });
  const server = await createServer(config, { shareClock: clock });
  const { port } = await server.listen();
  return { server, port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, close: () => server.close() };
}

async function call(server: TestServer, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(server.http + path, {
    method,
    headers: {
      ...(options.token && { authorization: `Bearer ${options.token}` }),
      ...(options.body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(options.body !== undefined && { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, body: type.startsWith('application/json') ? await response.json() : await response.text() };
}

/** An HS256 JWT of the test's secret. */
function jwt(scope: string, sub: string): Promise<string> {
  return new SignJWT({ scope }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
}

/** A WebSocket viewer and what it got: resolves `framed` at its first frame, `closed` with the error message and close. */
function wsViewer(url: string) {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  let error: any;
  let framed!: () => void;
  const firstFrame = new Promise<void>((resolve) => (framed = resolve));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) return framed();
    const message = JSON.parse(data.toString());
    if (message.type === 'frame') framed();
    if (message.type === 'error') error ??= message.error;
  });
  const closed = new Promise<{ code: number; reason: string; error: any }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), error }));
  });
  const result = {
    ws,
    firstFrame: withTimeout(Promise.race([firstFrame, closed.then((c) => { throw new Error(`closed ${c.code} ${c.reason} before a frame`); })]), 20_000, 'a frame'),
    closed: withTimeout(closed, 20_000, 'the close'),
  };
  // A test waits for one of the two; the other must not end the run as an unhandled rejection.
  result.firstFrame.catch(() => {});
  result.closed.catch(() => {});
  return result;
}

/** The Socket.IO outcome of a handshake: `connected`, or the connect_error's data. */
async function handshake(socket: Socket): Promise<'connected' | { message: string; code: string }> {
  const outcome = await withTimeout(new Promise<'connected' | { message: string; code: string }>((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (error: Error & { data?: { code: string } }) => resolve({ message: error.message, code: error.data?.code ?? '' }));
  }), 20_000, 'the Socket.IO handshake');
  return outcome;
}

describe('ShareLinks: tokens checked against the registry', () => {
  it('verifies its own tokens; refuses forged, foreign, tampered, revoked, expired, used-up and dropped ones with their codes', async () => {
    const clock = new WallFakeClock();
    const links = new ShareLinks({ secret: SECRET, clock });
    const { link, token } = await links.create('session:a', 'view', 60, 2);
    assert.equal(link.scope, 'view:session:a');
    assert.ok(ShareLinks.claims(token));
    const principal = await links.verify(token);
    assert.deepEqual([...principal.scopes], ['view:session:a']);
    assert.equal(principal.owner, undefined);
    assert.equal(principal.share?.id, link.id);

    const refusal = async (text: string) => {
      try {
        await links.verify(text);
      } catch (error) {
        assert.ok(error instanceof AuthError);
        return error.code;
      }
      return 'accepted';
    };
    const key = new TextEncoder().encode(SECRET);
    // Signed with the right key but naming no link of this registry: someone with the secret, or another process.
    const unknown = await new SignJWT({ scope: 'control:a' }).setProtectedHeader({ alg: 'HS256', typ: SHARE_TOKEN_TYPE }).setJti('nope').setAudience('framehub:share').setExpirationTime(Math.floor(clock.now() / 1000) + 60).sign(key);
    assert.equal(await refusal(unknown), 'token_invalid');
    // The right jti with a wider scope claimed: the registry's record decides.
    const widened = await new SignJWT({ scope: 'control:a' }).setProtectedHeader({ alg: 'HS256', typ: SHARE_TOKEN_TYPE }).setJti(link.id).setAudience('framehub:share').setExpirationTime(Math.floor(clock.now() / 1000) + 60).sign(key);
    assert.equal(await refusal(widened), 'token_invalid');
    const foreign = await new SignJWT({ scope: 'view:session:a' }).setProtectedHeader({ alg: 'HS256', typ: SHARE_TOKEN_TYPE }).setJti(link.id).setAudience('framehub:share').setExpirationTime(Math.floor(clock.now() / 1000) + 60).sign(new TextEncoder().encode('another-secret-0123456789'));
    assert.equal(await refusal(foreign), 'token_invalid');
    const [head, body, signature] = token.split('.');
    assert.equal(await refusal(`${head}.${body}x.${signature}`), 'token_invalid');
    assert.equal(await refusal('garbage'), 'token_invalid');

    links.use(link.id);
    links.use(link.id);
    assert.throws(() => links.use(link.id), (error: AuthError) => error.code === 'token_used_up');

    const second = await links.create('session:a', 'control', 120, undefined);
    const ended: string[] = [];
    const grant = (await links.verify(second.token)).share!;
    grant.watch((error) => ended.push(error.code));
    assert.equal(links.revoke('session:b', second.link.id), undefined, 'a link is revoked through its own target only');
    assert.equal(links.revoke('session:a', second.link.id)?.revoked, true);
    assert.deepEqual(ended, ['token_revoked']);
    assert.equal(await refusal(second.token), 'token_revoked');

    const third = await links.create('session:c', 'view', 60, undefined);
    links.dropTarget('session:c');
    assert.equal(await refusal(third.token), 'token_invalid', 'the links of a closed session end with it');

    const watched = (await links.verify(token)).share!;
    watched.watch((error) => ended.push(error.code));
    await clock.advance(60_000);
    assert.deepEqual(ended, ['token_revoked', 'token_expired']);
    assert.equal(await refusal(token), 'token_expired');
    assert.deepEqual(links.list('session:a').map((l) => [l.mode, l.revoked]), [['control', true]], 'the expired link is gone, the revoked one kept until its expiry');
    links.close();
  });

  it('holds at most 32 live links a target', async () => {
    const links = new ShareLinks({ clock: new WallFakeClock() });
    for (let i = 0; i < 32; i++) await links.create('demo', 'view', 60, undefined);
    await assert.rejects(links.create('demo', 'view', 60, undefined), { code: 'too_many_shares' });
    const first = links.list('demo')[0]!;
    links.revoke('demo', first.id);
    await links.create('demo', 'view', 60, undefined);
    links.close();
  });
});

describe('share links on an open server (real Chromium)', () => {
  const clock = new WallFakeClock();
  let pages: PageServer;
  let server: TestServer;
  let session: string;
  const sockets: Socket[] = [];
  const open = (token?: string) => {
    const socket = connect(server.http, { reconnection: false, transports: ['websocket'], ...(token && { auth: { token } }) });
    sockets.push(socket);
    return socket;
  };
  const share = async (body: unknown, id = session) => {
    const made = await call(server, 'POST', `/api/session/${id}/share`, { body });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    return made.body as { link: { id: string; mode: string }; token: string; url: string; path: string };
  };
  const seenKeys = async () => (await server.server.sessions.get(session)!.page()).page.evaluate(() => (window as any).seen.keys as string[]);

  before(async () => {
    pages = await startPageServer();
    server = await startShareServer(clock);
    const created = await call(server, 'POST', '/api/session/create', { body: { width: 320, height: 240 } });
    assert.equal(created.status, 201);
    session = created.body.session_id;
    assert.equal((await call(server, 'POST', `/api/session/${session}/load`, { body: { url: `${pages.origin}/` } })).status, 200);
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('creates, lists and revokes links; bad bodies get 400 with the field named, unknown links 404', async () => {
    const made = await share({ mode: 'view', ttl: 600, max_uses: 3 });
    assert.equal(made.link.mode, 'view');
    assert.match(made.url, new RegExp(`^${server.http}/session\\.html\\?session=${session}&token=`));
    assert.deepEqual(made.link, { ...made.link, target: `session:${session}`, scope: `view:session:${session}`, max_uses: 3, uses: 0, revoked: false });
    assert.equal((made.link as any).expires_at - (made.link as any).created_at, 600);
    const listed = await call(server, 'GET', `/api/session/${session}/shares`);
    assert.equal(listed.status, 200);
    assert.ok(listed.body.links.some((l: any) => l.id === made.link.id && !('token' in l)), 'listed, without its token');
    const revoked = await call(server, 'DELETE', `/api/session/${session}/shares/${made.link.id}`);
    assert.deepEqual([revoked.status, revoked.body.link.revoked], [200, true]);
    assert.deepEqual(await call(server, 'DELETE', `/api/session/${session}/shares/nope`), { status: 404, body: { success: false, error: 'no share link "nope"' } });
    assert.deepEqual(await call(server, 'POST', '/api/session/nope/share', { body: { mode: 'view' } }), { status: 404, body: { success: false, error: 'no session "nope"' } });

    for (const [body, says] of [
      [{ mode: 'edit' }, 'mode must be "view" or "control"'],
      [{}, 'mode must be'],
      [{ mode: 'view', ttl: 59 }, 'ttl must be an integer from 60 to 604800'],
      [{ mode: 'view', ttl: 604801 }, 'ttl must be'],
      [{ mode: 'view', ttl: '600' }, 'ttl must be'],
      [{ mode: 'view', ttl: 60.5 }, 'ttl must be'],
      [{ mode: 'view', max_uses: 0 }, 'max_uses must be an integer from 1 to 10000'],
      [{ mode: 'view', max_uses: -1 }, 'max_uses must be'],
      [{ mode: 'view', max_uses: 1e9 }, 'max_uses must be'],
      [{ mode: 'view', max_uses: [1] }, 'max_uses must be'],
      [[], 'the body must be a JSON object'],
      ['null', 'the body must be a JSON object'],
    ] as const) {
      const answer = await call(server, 'POST', `/api/session/${session}/share`, { body });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.success, false);
      assert.ok(answer.body.error.startsWith(says), `${JSON.stringify(body)}: ${answer.body.error}`);
    }
    assert.equal((await call(server, 'POST', `/api/session/${session}/share`, { body: '{"mode":' })).status, 400, 'malformed JSON');
  });

  it('a view link watches but cannot drive (the page never gets its input); a control link drives; a tokenless client keeps the open grant', async () => {
    const view = await share({ mode: 'view', ttl: 600 });
    const control = await share({ mode: 'control', ttl: 600 });

    const viewer = open(view.token);
    assert.equal(await handshake(viewer), 'connected');
    const red = frameOfColour(viewer, RED);
    assert.deepEqual(await viewer.emitWithAck('subscribe', { session_id: session }), { session_id: session, fps: 20, quality: 75 });
    await red;
    const refused = await viewer.emitWithAck('input:key', { key: 'v' });
    assert.equal(refused.error?.code, 'scope_missing', JSON.stringify(refused));
    // REST: the link's token is its principal here too.
    assert.equal((await call(server, 'POST', `/api/session/${session}/input`, { token: view.token, body: { type: 'key', key: 'w' } })).status, 403);
    assert.equal((await call(server, 'POST', `/api/session/${session}/share`, { token: view.token, body: { mode: 'control' } })).status, 403, 'a view link makes no control link');
    const info = await call(server, 'GET', `/api/session/${session}`, { token: view.token });
    assert.deepEqual([info.status, info.body.can_control], [200, false]);

    const driver = open(control.token);
    assert.equal(await handshake(driver), 'connected');
    await driver.emitWithAck('subscribe', { session_id: session });
    assert.deepEqual(await driver.emitWithAck('input:key', { key: 'c' }), { type: 'key' });
    assert.equal((await call(server, 'GET', `/api/session/${session}`, { token: control.token })).body.can_control, true);
    const linkMade = await call(server, 'POST', `/api/session/${session}/share`, { token: control.token, body: { mode: 'view' } });
    assert.deepEqual(linkMade, { status: 403, body: { success: false, error: 'forbidden: a share link cannot make, list or revoke share links' } });

    const anyone = open();
    assert.equal(await handshake(anyone), 'connected');
    await anyone.emitWithAck('subscribe', { session_id: session });
    assert.deepEqual(await anyone.emitWithAck('input:key', { key: 'o' }), { type: 'key' });
    assert.deepEqual(await seenKeys(), ['c', 'o'], 'only the control link\'s and the open client\'s keys reached the page');
    // A token that says it is a share link but is not one of ours is refused, not taken for the open grant.
    const forged = await new SignJWT({ scope: 'admin' }).setProtectedHeader({ alg: 'HS256', typ: SHARE_TOKEN_TYPE }).setJti('x').setAudience('framehub:share').setExpirationTime('1h').sign(new TextEncoder().encode('forged-secret-0123456789'));
    assert.deepEqual(await handshake(open(forged)), { message: 'unauthorized: token signature does not verify', code: 'token_invalid' });
    assert.equal((await call(server, 'GET', `/api/session/${session}/frame/data`, { token: forged })).status, 401);
  });

  it('revoking a link disconnects its Socket.IO viewer (error token_revoked, then disconnect) and its WebSocket viewer (4401), and refuses it after', async () => {
    const view = await share({ mode: 'view', ttl: 600 });
    const viewer = open(view.token);
    await handshake(viewer);
    // Listening before the subscribe: the stream's latest frame arrives before its answer.
    const red = frameOfColour(viewer, RED);
    await viewer.emitWithAck('subscribe', { session_id: session });
    await red;
    const ws = wsViewer(`${server.ws}/stream/session:${session}?token=${view.token}`);
    await ws.firstFrame;
    const bystander = open();
    await handshake(bystander);

    const error = nextEvent(viewer, 'error');
    const disconnected = nextEvent(viewer, 'disconnect');
    assert.equal((await call(server, 'DELETE', `/api/session/${session}/shares/${view.link.id}`)).status, 200);
    assert.deepEqual(await error, { message: 'unauthorized: share link revoked', code: 'token_revoked' });
    assert.equal(await disconnected, 'io server disconnect');
    assert.deepEqual(await ws.closed, { code: 4401, reason: 'unauthorized: share link revoked', error: { message: 'unauthorized: share link revoked', code: 'token_revoked' } });
    assert.ok(bystander.connected, 'a client without the link stays');

    assert.deepEqual(await handshake(open(view.token)), { message: 'unauthorized: share link revoked', code: 'token_revoked' });
    const again = wsViewer(`${server.ws}/stream/session:${session}?token=${view.token}`);
    assert.equal((await again.closed).code, 4401);
    assert.deepEqual(await call(server, 'GET', `/api/session/${session}/frame/data`, { token: view.token }), { status: 401, body: { success: false, error: 'unauthorized: share link revoked' } });
  });

  it('an expired link ends its connections (token_expired, 4401) and is refused after', async () => {
    const view = await share({ mode: 'view', ttl: 60 });
    const viewer = open(view.token);
    await handshake(viewer);
    await viewer.emitWithAck('subscribe', { session_id: session });
    const ws = wsViewer(`${server.ws}/ws/video_feed?stream=session:${session}&token=${view.token}`);
    await ws.firstFrame;
    const error = nextEvent(viewer, 'error');
    const disconnected = nextEvent(viewer, 'disconnect');
    await clock.advance(60_000);
    assert.deepEqual(await error, { message: 'unauthorized: share link expired', code: 'token_expired' });
    assert.equal(await disconnected, 'io server disconnect');
    assert.equal((await ws.closed).code, 4401);
    assert.equal((await ws.closed).reason, 'unauthorized: share link expired');
    assert.deepEqual(await handshake(open(view.token)), { message: 'unauthorized: share link expired', code: 'token_expired' });
    assert.ok(!(await call(server, 'GET', `/api/session/${session}/shares`)).body.links.some((l: any) => l.id === view.link.id), 'an expired link is dropped');
  });

  it('max_uses counts connections: past it new ones are refused token_used_up, the admitted ones stay', async () => {
    const view = await share({ mode: 'view', ttl: 600, max_uses: 2 });
    const first = open(view.token);
    assert.equal(await handshake(first), 'connected');
    const ws = wsViewer(`${server.ws}/stream/session:${session}?token=${view.token}`);
    await ws.firstFrame;
    assert.deepEqual(await handshake(open(view.token)), { message: 'unauthorized: share link used up (max_uses 2)', code: 'token_used_up' });
    const refused = wsViewer(`${server.ws}/stream/session:${session}?token=${view.token}`);
    assert.deepEqual(await refused.closed, { code: 4401, reason: 'unauthorized: share link used up (max_uses 2)', error: { message: 'unauthorized: share link used up (max_uses 2)', code: 'token_used_up' } });
    assert.ok(first.connected);
    assert.equal(ws.ws.readyState, WebSocket.OPEN);
    const listed = (await call(server, 'GET', `/api/session/${session}/shares`)).body.links.find((l: any) => l.id === view.link.id);
    assert.equal(listed.uses, 2);
    ws.ws.close();
  });

  it('stream links: view only, for that one stream, on the viewer page\'s URL', async () => {
    const made = await call(server, 'POST', '/api/streams/demo/share', { body: { ttl: 600 } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.link.scope, 'view:demo');
    assert.match(made.body.url, new RegExp(`^${server.http}/\\?stream=demo&token=.+&connect=1$`));
    assert.deepEqual((await call(server, 'POST', '/api/streams/demo/share', { body: { mode: 'control' } })).status, 400);
    assert.equal((await call(server, 'POST', '/api/streams/nope/share', { body: {} })).status, 404);
    const token = made.body.token as string;
    await wsViewer(`${server.ws}/stream/demo?token=${token}`).firstFrame;
    const other = wsViewer(`${server.ws}/stream/other?token=${token}`);
    assert.equal((await other.closed).code, 4403, 'a link for demo does not watch other');
    const socket = open(token);
    await handshake(socket);
    assert.deepEqual(await socket.emitWithAck('subscribe', { stream: 'demo' }), { stream: 'demo', fps: 20, quality: 75 });
    assert.equal((await socket.emitWithAck('subscribe', { stream: 'other' })).error.code, 'scope_missing');
    assert.equal((await socket.emitWithAck('subscribe', { session_id: session })).error.code, 'scope_missing');

    const listed = await call(server, 'GET', '/api/streams/demo/shares');
    assert.equal(listed.body.links.length, 1);
    const ws = wsViewer(`${server.ws}/video/demo?token=${token}`);
    await ws.firstFrame;
    assert.equal((await call(server, 'DELETE', `/api/streams/demo/shares/${made.body.link.id}`)).status, 200);
    assert.equal((await ws.closed).code, 4401);
    assert.deepEqual(await call(server, 'DELETE', '/api/streams/demo/shares/nope'), { status: 404, body: { error: 'share_not_found', message: 'no share link "nope"' } });
  });

  it('the returned URL opens the session page in Chromium: it shows frames, and a view link shows no controls that drive', async () => {
    const browser: TestBrowser = await launchBrowser();
    try {
      const view = await share({ mode: 'view', ttl: 600 });
      const { page, errors } = await browser.newPage();
      await page.goto(view.url);
      await page.waitForFunction(() => document.querySelector('[data-testid=session-state]')?.getAttribute('data-state') === 'live', undefined, { timeout: 20_000 })
        .catch(async (error) => { throw new Error(`${error.message}; page says ${await page.getByTestId('message').textContent()}; errors ${errors.join(' | ')}`); });
      await page.waitForFunction(() => (document.querySelector('[data-testid=screen]') as HTMLImageElement).naturalWidth === 320, undefined, { timeout: 20_000 });
      assert.equal(await page.evaluate(() => document.body.dataset['mode']), 'view');
      assert.equal(await page.getByTestId('url').isVisible(), false);
      assert.equal(await page.getByTestId('go').isVisible(), false);
      assert.deepEqual(errors, []);
      // Revoked while the page watches: it says so and stops.
      assert.equal((await call(server, 'DELETE', `/api/session/${session}/shares/${view.link.id}`)).status, 200);
      await page.waitForFunction(() => document.querySelector('[data-testid=session-state]')?.getAttribute('data-state') === 'error'
        && document.querySelector('[data-testid=message]')?.textContent === 'unauthorized: share link revoked', undefined, { timeout: 20_000 });

      const control = await share({ mode: 'control', ttl: 600 });
      const driving = await browser.newPage();
      await driving.page.goto(control.url);
      await driving.page.waitForFunction(() => (document.querySelector('[data-testid=screen]') as HTMLImageElement).naturalWidth === 320, undefined, { timeout: 20_000 });
      assert.equal(await driving.page.getByTestId('url').isEnabled(), true);
      await driving.page.getByTestId('screen').press('z');
      const remote = (await server.server.sessions.get(session)!.page()).page;
      await remote.waitForFunction(() => (window as any).seen.keys.includes('z'), undefined, { timeout: 20_000 });

      // A stream link opens the viewer page on its stream, connected, frames drawn.
      const made = await call(server, 'POST', '/api/streams/demo/share', { body: { ttl: 600 } });
      const watching = await browser.newPage();
      await watching.page.goto(made.body.url);
      await watching.page.waitForFunction(() => document.querySelector('[data-testid=connection-state]')?.getAttribute('data-state') === 'connected'
        && (document.querySelector('[data-testid=placeholder]') as HTMLElement).hidden, undefined, { timeout: 20_000 });
    } finally {
      await browser.close();
    }
  });
});

describe('share links with access configured (JWT_SECRET and ACCESS_TOKENS, real Chromium)', () => {
  const clock = new WallFakeClock();
  let pages: PageServer;
  let server: TestServer;
  const tokens: Record<string, string> = {};
  const sockets: Socket[] = [];
  const open = (token: string) => {
    const socket = connect(server.http, { reconnection: false, transports: ['websocket'], auth: { token } });
    sockets.push(socket);
    return socket;
  };

  before(async () => {
    tokens['alice'] = await jwt('control', 'alice');
    tokens['bob'] = await jwt('control view', 'bob');
    pages = await startPageServer();
    server = await startShareServer(clock, { jwtSecret: SECRET, accessTokens: `${ADMIN}=admin; ${VIEWER}=view` });
    const created = await call(server, 'POST', '/api/session/create', { token: tokens['alice'], body: { session_id: 'alices', width: 320, height: 240 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call(server, 'POST', '/api/session/alices/load', { token: tokens['alice'], body: { url: `${pages.origin}/` } })).status, 200);
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('the owner and admin make, list and revoke a session\'s links; another owner gets the unknown id\'s 404, a view token 403', async () => {
    const made = await call(server, 'POST', '/api/session/alices/share', { token: tokens['alice'], body: { mode: 'control', ttl: 300 } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.deepEqual(await call(server, 'POST', '/api/session/alices/share', { token: tokens['bob'], body: { mode: 'view' } }), { status: 404, body: { success: false, error: 'no session "alices"' } });
    assert.equal((await call(server, 'GET', '/api/session/alices/shares', { token: tokens['bob'] })).status, 404);
    assert.equal((await call(server, 'POST', '/api/session/alices/share', { token: VIEWER, body: { mode: 'view' } })).status, 403);
    assert.equal((await call(server, 'POST', '/api/session/alices/share', { body: { mode: 'view' } })).status, 401);
    const listed = await call(server, 'GET', '/api/session/alices/shares', { token: ADMIN });
    assert.deepEqual(listed.body.links.map((l: any) => l.id), [made.body.link.id]);
    assert.equal((await call(server, 'DELETE', `/api/session/alices/shares/${made.body.link.id}`, { token: tokens['bob'] })).status, 404, 'bob cannot revoke it');
    assert.equal((await call(server, 'DELETE', `/api/session/alices/shares/${made.body.link.id}`, { token: ADMIN })).status, 200);
  });

  it('a control link drives another owner\'s session, a view link only watches; neither reaches another session, publishes or lists', async () => {
    const control = (await call(server, 'POST', '/api/session/alices/share', { token: tokens['alice'], body: { mode: 'control', ttl: 300 } })).body;
    const view = (await call(server, 'POST', '/api/session/alices/share', { token: tokens['alice'], body: { mode: 'view', ttl: 300 } })).body;
    const driver = open(control.token);
    assert.equal(await handshake(driver), 'connected');
    const red = frameOfColour(driver, RED);
    await driver.emitWithAck('subscribe', { session_id: 'alices' });
    await red;
    assert.deepEqual(await driver.emitWithAck('input:key', { key: 'k' }), { type: 'key' });
    const viewer = open(view.token);
    assert.equal(await handshake(viewer), 'connected');
    await viewer.emitWithAck('subscribe', { session_id: 'alices' });
    assert.equal((await viewer.emitWithAck('input:key', { key: 'x' })).error.code, 'scope_missing');
    const remote = (await server.server.sessions.get('alices')!.page()).page;
    await remote.waitForFunction(() => (window as any).seen.keys.includes('k'), undefined, { timeout: 20_000 });
    assert.deepEqual(await remote.evaluate(() => (window as any).seen.keys), ['k']);

    assert.equal((await call(server, 'GET', '/api/sessions', { token: control.token })).status, 403);
    assert.equal((await call(server, 'GET', '/api/streams', { token: view.token })).status, 403);
    assert.equal((await call(server, 'POST', '/api/session/create', { token: control.token, body: {} })).status, 403);
    assert.equal((await call(server, 'POST', '/api/notifications', { token: control.token, body: { message: 'x' } })).status, 403, 'a link does not publish');
    assert.equal((await call(server, 'POST', '/api/session/alices/keepalive', { token: control.token })).status, 200);
    const gone = await call(server, 'GET', '/api/session/other/frame/data', { token: control.token });
    assert.equal(gone.status, 403, 'control:alices names no other session');
  });

  it('stream links take admin; a view token is refused 403; the link works on the WebSocket routes', async () => {
    assert.equal((await call(server, 'POST', '/api/streams/demo/share', { token: VIEWER, body: {} })).status, 403);
    assert.equal((await call(server, 'POST', '/api/streams/demo/share', { token: tokens['alice'], body: {} })).status, 403);
    const made = await call(server, 'POST', '/api/streams/demo/share', { token: ADMIN, body: { ttl: 120, max_uses: 1 } });
    assert.equal(made.status, 201);
    await wsViewer(`${server.ws}/stream/demo?token=${made.body.token}`).firstFrame;
    assert.equal((await wsViewer(`${server.ws}/stream/demo?token=${made.body.token}`).closed).code, 4401, 'used up');
    // alice may share her session's stream through the streams route too.
    assert.equal((await call(server, 'POST', '/api/streams/session:alices/share', { token: tokens['alice'], body: {} })).status, 201);
    assert.equal((await call(server, 'POST', '/api/streams/session:alices/share', { token: tokens['bob'], body: {} })).status, 404);
  });

  it('a deleted session\'s links end with it: its viewers are disconnected and a new session under the id is not reached', async () => {
    const created = await call(server, 'POST', '/api/session/create', { token: tokens['alice'], body: { session_id: 'brief', width: 320, height: 240 } });
    assert.equal(created.status, 201);
    const view = (await call(server, 'POST', '/api/session/brief/share', { token: tokens['alice'], body: { mode: 'view', ttl: 300 } })).body;
    const viewer = open(view.token);
    await handshake(viewer);
    const disconnected = nextEvent(viewer, 'disconnect');
    assert.equal((await call(server, 'DELETE', '/api/session/brief', { token: tokens['alice'] })).status, 200);
    await disconnected;
    assert.equal((await call(server, 'POST', '/api/session/create', { token: tokens['bob'], body: { session_id: 'brief', width: 320, height: 240 } })).status, 201);
    assert.equal((await call(server, 'GET', '/api/session/brief/frame/data', { token: view.token })).status, 401);
    assert.equal((await call(server, 'DELETE', '/api/session/brief', { token: tokens['bob'] })).status, 200);
  });
});

describe('share links with ACCESS_TOKENS only (signed with SHARE_SECRET)', () => {
  let server: TestServer;
  before(async () => {
    server = await startShareServer(new WallFakeClock(), { accessTokens: `${ADMIN}=admin`, shareSecret: 'share-secret-0123456789abcdef' });
  });
  after(async () => {
    await server?.close();
  });

  it('an admin makes a stream link; it watches that stream over Socket.IO and WebSocket; a token signed with another key does not', async () => {
    const made = await call(server, 'POST', '/api/streams/demo/share', { token: ADMIN, body: { mode: 'view' } });
    assert.equal(made.status, 201);
    await wsViewer(`${server.ws}/ws/video_feed?stream=demo&token=${made.body.token}`).firstFrame;
    const socket = connect(server.http, { reconnection: false, transports: ['websocket'], auth: { token: made.body.token } });
    try {
      assert.equal(await handshake(socket), 'connected');
      assert.deepEqual(await socket.emitWithAck('subscribe', { stream: 'demo' }), { stream: 'demo', fps: 20, quality: 75 });
      await nextEvent(socket, 'frame');
    } finally {
      socket.disconnect();
    }
    const forged = await new SignJWT({ scope: 'view:demo' }).setProtectedHeader({ alg: 'HS256', typ: SHARE_TOKEN_TYPE }).setJti(made.body.link.id).setAudience('framehub:share').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    assert.equal((await wsViewer(`${server.ws}/stream/demo?token=${forged}`).closed).code, 4401);
  });
});
