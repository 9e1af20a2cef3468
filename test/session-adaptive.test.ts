import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket as NetSocket } from 'node:net';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { createLoadedSession, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent } from './wait.js';

describe('adaptive quality over a real Socket.IO connection', () => {
  let pages: PageServer;
  let server: TestServer;
  const sockets: Socket[] = [];

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer({ quality: 90 });
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('is on by default and climbs to q90/30 fps on a link that keeps up', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { session_id: 'fast_link', width: 320, height: 240 });
    const socket = connect(server.http, { transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    const subscribed = nextEvent(socket, 'subscribed');
    const quality = nextEvent(socket, 'quality:updated', (p) => p.quality === 90, 20_000);
    const fps = nextEvent(socket, 'fps:updated', (p) => p.fps === 30, 20_000);
    socket.emit('subscribe', { session_id: id });
    assert.deepEqual(await subscribed, { session_id: id, fps: 20, quality: 75 });
    await quality;
    await fps;
    // Its 30 fps page would only load the machine under the next test.
    socket.disconnect();
    assert.equal((await fetch(`${server.http}/api/session/${id}`, { method: 'DELETE' })).status, 200);
  });

  it('drops to q50/10 fps when writes to the client stall (measured from write completions)', async (t) => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { session_id: 'slow_link', width: 1280, height: 720 });
    const socket = connect(server.http, { transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: id });
    await subscribed;
    const first = await nextEvent(socket, 'frame');
    t.diagnostic(`first frame: ${first.size} bytes`);
    // A slow link: the client reads 12 KiB every 100 ms (~1 Mbps). Once the socket buffers are
    // full, each server write completes only as fast as the client reads.
    const tcp = (socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;
    const down = nextEvent(socket, 'quality:updated', (p) => p.quality === 50, 150_000);
    const slowFps = nextEvent(socket, 'fps:updated', (p) => p.fps === 10, 150_000);
    tcp.pause();
    // read() on a paused socket still emits 'data' to the WebSocket parser, 12 KiB at a time.
    const throttle = setInterval(() => tcp.read(12 * 1024), 100);
    try {
      // Both at once: a failure of one must not leave the other to reject after the test.
      await Promise.all([down, slowFps]);
    } finally {
      clearInterval(throttle);
      tcp.resume();
    }
  });
});
