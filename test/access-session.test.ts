import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { launchBrowser } from './browser-helpers.js';
import { BLUE, RED, frameOfColour, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';

const CONTROL = 'access-control-token-0123456789';
const VIEW_ONE = 'access-view-one-token-0123456789';
const CONTROL_OTHER = 'access-control-other-0123456789';
const VIEW_DEMO = 'access-view-demo-token-0123456789';

/** One real Chromium session behind static tokens: watching it is not driving it. */
describe('browser sessions with scoped tokens (real Chromium)', () => {
  let pages: PageServer;
  let server: TestServer;
  const sockets: Socket[] = [];
  const open = (token: string) => {
    // seeds/003's production advice: io(url, { auth: { token } }).
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
    return { status: response.status, body: await response.json() as any };
  };

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer({
      accessTokens: `${CONTROL}=control; ${VIEW_ONE}=view:session:acl; ${CONTROL_OTHER}=control:someone-else; ${VIEW_DEMO}=view:demo`,
    });
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('a view-only token watches a session but cannot send input (Socket.IO and REST) or delete it; control can', async () => {
    assert.equal((await call('POST', '/api/session/create', VIEW_ONE, { session_id: 'acl' })).status, 403, 'view cannot create');
    const created = await call('POST', '/api/session/create', CONTROL, { session_id: 'acl', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call('POST', '/api/session/acl/load', CONTROL, { url: `${pages.origin}/` })).status, 200);

    const viewer = open(VIEW_ONE);
    const red = frameOfColour(viewer, RED);
    assert.equal((await viewer.emitWithAck('subscribe', { session_id: 'acl' })).session_id, 'acl');
    await red;
    const refused = await viewer.emitWithAck('input:click', { x: 100, y: 100 });
    assert.equal(refused.error?.code, 'scope_missing');
    assert.match(refused.error.message, /control:acl/);
    const rest = await call('POST', '/api/session/acl/input', VIEW_ONE, { type: 'click', x: 100, y: 100 });
    assert.equal(rest.status, 403);
    assert.equal(rest.body.success, false);
    assert.equal((await call('DELETE', '/api/session/acl', VIEW_ONE)).status, 403);
    assert.equal((await call('POST', '/api/session/acl/input', CONTROL_OTHER, { type: 'click', x: 100, y: 100 })).status, 403, 'control of another session');
    assert.equal((await call('GET', '/api/session/acl/frame/data', VIEW_ONE)).status, 200, 'view:session:acl reads its frame');

    // Nothing the viewer sent reached the page: it is still red; the driver's click turns it blue.
    const driver = open(CONTROL);
    await driver.emitWithAck('subscribe', { session_id: 'acl' });
    const blue = frameOfColour(viewer, BLUE);
    assert.deepEqual(await driver.emitWithAck('input:click', { x: 100, y: 100 }), { type: 'click' });
    await blue;

    assert.equal((await call('DELETE', '/api/session/acl', CONTROL)).status, 200);
    assert.equal((await call('GET', '/api/session/acl/frame', CONTROL)).status, 404);
  });

  it('the pages pass their ?token= on: session.html drives a session over Socket.IO and REST, the viewer watches demo', async (t) => {
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const { page, errors } = await browser.newPage();
    await page.goto(`${server.http}/session.html?token=${CONTROL}`);
    await page.getByTestId('session-id').fill('page');
    await page.locator('#width').fill('320');
    await page.locator('#height').fill('240');
    await page.getByTestId('create').click();
    await page.getByTestId('url').fill(`${pages.origin}/`);
    await page.getByTestId('go').click();
    await page.getByTestId('message').filter({ hasText: 'Loaded' }).waitFor({ timeout: 20_000 });
    // Frames arrive over the page's Socket.IO connection, which the server let in for the token in its handshake.
    await page.waitForFunction(() => (document.querySelector('[data-testid=screen]') as HTMLImageElement).naturalWidth === 320, undefined, { timeout: 20_000 });
    // Bare `control` lists its own sessions now (GET /api/sessions): the page logs no error at all.
    assert.deepEqual(errors, []);
    assert.equal((await call('DELETE', '/api/session/page', CONTROL)).status, 200);

    const viewer = await browser.newPage();
    await viewer.page.goto(`${server.http}/?token=${VIEW_DEMO}&stream=demo&connect=1`);
    await viewer.page.waitForFunction(() => Number(document.getElementById('stat-frames')?.dataset['value'] ?? 0) >= 3, undefined, { timeout: 15_000 });
    // `/api/streams` is `view` (all streams): a view:demo token is refused the list, not the stream.
    assert.deepEqual(viewer.errors.filter((e) => !/status of 403/.test(e)), []);
  });
});
