// Issue 13, point 3: a browser session has a maximum lifetime as well as its idle timeout. A
// watched session (a subscriber is a keepalive) still ends when its lifetime is up, and its
// viewer is told why.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { io as connect, type Socket } from 'socket.io-client';
import { loadConfig } from '../src/config/config.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import { Hub } from '../src/hub/hub.js';
import { DEFAULT_MAX_LIFETIME_MS, SessionRegistry } from '../src/sessions/session-registry.js';
import { attachSocketIo } from '../src/server/socket-io.js';
import { ConnectionCaps } from '../src/server/connection-caps.js';
import { withTimeout as within } from './wait.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, trace() {}, fatal() {}, child: () => quiet } as unknown as FastifyBaseLogger;

describe('session maximum lifetime', () => {
  let registry: SessionRegistry;
  let http: Server;
  let origin: string;

  before(async () => {
    // The registry and the Socket.IO route as createServer wires them, with a 6 s lifetime and an
    // idle timeout far beyond it.
    registry = new SessionRegistry({
      maxSessions: 2, maxSessionsPerIp: 2, timeoutMs: 600_000, maxLifetimeMs: 6000,
      chromePath: '/usr/bin/chromium', browserAllowHosts: '127.0.0.1', encoder: new SharpEncoder(), idleGraceMs: 200,
      onBackgroundError: () => {},
    });
    const hub = new Hub('none');
    hub.addResolver(registry.resolveStream);
    http = createServer();
    attachSocketIo(http, { hub, registry, log: quiet, maxPayload: 65_536, caps: new ConnectionCaps(100, 100) });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const address = http.address();
    origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await registry?.close();
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
  });

  it('ends a watched session when its lifetime is up and tells its viewer, who stays connected', async () => {
    const session = await registry.create({ id: 'short', width: 320, height: 240, quality: 70, fps: 10 }, '127.0.0.1');
    const createdAt = Date.now();
    assert.ok(session.endsAt !== undefined && Math.abs(session.endsAt - (createdAt + 6000)) < 1000, 'ends_at is about 6 s away');
    assert.equal(session.info()['ends_at'], session.endsAt! / 1000);
    const socket: Socket = connect(origin, { reconnection: false, transports: ['websocket'] });
    try {
      const subscribed = new Promise((resolve) => socket.once('subscribed', resolve));
      socket.emit('subscribe', { session_id: 'short' });
      await within(subscribed, 20_000, 'subscribed');
      await within(new Promise((resolve) => socket.once('frame', resolve)), 20_000, 'a frame');
      const closed = new Promise<{ id: string; reason: string }>((resolve) => registry.once('session:closed', resolve));
      const told = new Promise<{ message: string }>((resolve) => socket.on('error', (e: { message: string }) => {
        if (/lifetime/.test(e.message)) resolve(e);
      }));
      // Input keeps a session from idling out; it does not extend its lifetime.
      await session.input({ type: 'move', x: 10, y: 10 });
      assert.deepEqual(await within(closed, 10_000, 'the session to close'), { id: 'short', reason: 'lifetime' });
      assert.ok(Date.now() - createdAt >= 5900, 'not before its lifetime');
      assert.match((await within(told, 5000, 'the viewer to be told')).message, /session short was closed \(it reached its maximum lifetime of 6 s\)/);
      assert.equal(registry.get('short'), undefined);
      assert.equal(socket.connected, true, 'the Socket.IO connection stays; only the session ended');
    } finally {
      socket.disconnect();
    }
  });

  it('defaults to 4 h, configurable as sessionMaxLifetime / SESSION_MAX_LIFETIME / --session-max-lifetime', () => {
    assert.equal(DEFAULT_MAX_LIFETIME_MS, 4 * 3600_000);
    assert.equal(loadConfig({}).sessionMaxLifetime, 14_400);
    assert.equal(loadConfig({ env: { SESSION_MAX_LIFETIME: '600' } }).sessionMaxLifetime, 600);
    assert.equal(loadConfig({ flags: { 'session-max-lifetime': '0' } }).sessionMaxLifetime, 0);
    assert.throws(() => loadConfig({ env: { SESSION_MAX_LIFETIME: '-1' } }), /SESSION_MAX_LIFETIME/);
  });
});
