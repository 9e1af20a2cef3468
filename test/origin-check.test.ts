// Issue 15, point 2: a page on another origin cannot use framehub through a visitor's browser,
// on any route: REST, WebSocket upgrades, Socket.IO (both transports). Clients that send no
// Origin (the seeds' Python and Node clients) are unaffected; ALLOWED_ORIGINS lets named
// origins in and gives them CORS headers (never `*`).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import { startServer, type TestServer } from './helpers.js';
import { useBrowser } from './browser-helpers.js';
import { listenLocal } from './listen-local.js';

const EVIL = 'http://evil.example';

async function request(s: TestServer, method: string, path: string, origin?: string, body?: unknown) {
  const response = await fetch(`${s.http}${path}`, {
    method,
    headers: { ...(origin !== undefined && { origin }), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.status, cors: response.headers.get('access-control-allow-origin'), body: await response.json().catch(() => undefined) };
}

/** The HTTP status a WebSocket upgrade with this Origin gets (101 when it opens). */
async function upgradeStatus(s: TestServer, path: string, origin?: string): Promise<number> {
  const ws = new WebSocket(`${s.ws}${path}`, origin === undefined ? {} : { origin });
  ws.on('error', () => {});
  const status = await Promise.race([
    once(ws, 'open').then(() => 101),
    once(ws, 'unexpected-response').then(([, response]) => (response as { statusCode: number }).statusCode),
  ]);
  ws.terminate();
  return status;
}

/** Whether a Socket.IO client sending this Origin connects over `transport`. */
async function socketIoConnects(s: TestServer, transport: 'websocket' | 'polling', origin?: string): Promise<boolean> {
  const socket = io(s.http, { transports: [transport], reconnection: false, ...(origin !== undefined && { extraHeaders: { origin } }) });
  try {
    return await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('connect_error', () => resolve(false));
    });
  } finally {
    socket.close();
  }
}

describe('Origin check, nothing configured', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('refuses a page on another origin on REST routes, reads and writes alike (403 origin_not_allowed)', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/sessions'], ['GET', '/api/streams'], ['DELETE', '/api/session/victim'],
      ['POST', '/api/session/create', {}], ['GET', '/api/images'],
    ] as const) {
      const answer = await request(s, method, path, EVIL, body);
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.equal(answer.body?.error, 'origin_not_allowed', `${method} ${path}`);
      assert.equal(answer.cors, null);
    }
    // file: pages and sandboxed frames send "null": not framehub's own either.
    assert.equal((await request(s, 'GET', '/api/sessions', 'null')).status, 403);
  });

  it('refuses its WebSocket upgrades and Socket.IO handshakes on both transports', async () => {
    for (const path of ['/stream/demo', '/ws/video_feed', '/ws', '/ws/streaming']) {
      assert.equal(await upgradeStatus(s, path, EVIL), 403, path);
    }
    assert.equal(await socketIoConnects(s, 'websocket', EVIL), false);
    assert.equal(await socketIoConnects(s, 'polling', EVIL), false);
  });

  it('serves framehub\'s own pages and clients that send no Origin', async () => {
    const own = `http://127.0.0.1:${s.port}`;
    assert.equal((await request(s, 'GET', '/api/sessions', own)).status, 200);
    assert.equal((await request(s, 'GET', '/api/sessions')).status, 200);
    assert.equal(await upgradeStatus(s, '/stream/demo', own), 101);
    assert.equal(await upgradeStatus(s, '/stream/demo'), 101);
    assert.equal(await socketIoConnects(s, 'polling', own), true);
    assert.equal(await socketIoConnects(s, 'websocket'), true);
  });
});

describe('Origin check with ALLOWED_ORIGINS', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ allowedOrigins: 'http://app.example, null' });
  });
  after(() => s.close());

  it('lets listed origins in, with CORS headers naming them (never *), and still refuses others', async () => {
    const listed = await request(s, 'GET', '/api/streams', 'http://app.example');
    assert.equal(listed.status, 200);
    assert.equal(listed.cors, 'http://app.example');
    assert.equal((await request(s, 'GET', '/api/streams', 'null')).status, 200);
    assert.equal(await upgradeStatus(s, '/stream/demo', 'http://app.example'), 101);
    assert.equal(await socketIoConnects(s, 'polling', 'null'), true);
    assert.equal((await request(s, 'GET', '/api/streams', EVIL)).status, 403);
    assert.equal(await upgradeStatus(s, '/stream/demo', EVIL), 403);
  });

  it('refuses a malformed list at start', async () => {
    await assert.rejects(startServer({ allowedOrigins: 'not an origin' }));
  });
});

describe('Origin check in a real browser', () => {
  const browser = useBrowser();
  let s: TestServer;
  let attacker: Server;
  let attackerOrigin: string;

  before(async () => {
    s = await startServer();
    attacker = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>a page on another origin</p>'));
    attackerOrigin = `http://127.0.0.1:${await listenLocal(attacker)}`;
  });
  after(async () => {
    attacker?.close();
    await s?.close();
  });

  it('a page on another origin cannot open a stream (the browser sends its Origin; framehub refuses the upgrade)', async () => {
    const { page } = await browser().newPage();
    await page.goto(`${attackerOrigin}/`);
    const outcome = await page.evaluate(async (framehub: { http: string; ws: string }) => {
      const opened = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${framehub.ws}/stream/demo`);
        ws.onmessage = () => resolve('frames');
        ws.onclose = (event) => resolve(`closed ${event.code}`);
      });
      return opened;
    }, { http: s.http, ws: s.ws });
    assert.equal(outcome, 'closed 1006');
  });
});
