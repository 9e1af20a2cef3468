import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { io as connect, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { TestServer } from './helpers.js';
import { launchBrowser, type TestBrowser } from './browser-helpers.js';
import {
  BLUE, createLoadedSession, frameOfColour, near, pixelAt, RED, startPageServer, startSessionServer, type PageServer, type Rgb,
} from './session-helpers.js';
import { nextEvent, withTimeout as within } from './wait.js';

describe('browser sessions over Socket.IO (seeds/003 events)', () => {
  let pages: PageServer;
  let server: TestServer;
  const sockets: Socket[] = [];
  const open = (options: Parameters<typeof connect>[1] = {}) => {
    const socket = connect(server.http, { reconnection: false, ...options });
    sockets.push(socket);
    return socket;
  };

  before(async () => {
    pages = await startPageServer();
    // seeds/003's WebView page is served from the page server's origin: ALLOWED_ORIGINS lets it in.
    server = await startSessionServer({ maxSessions: 20, maxSessionsPerIp: 20, allowedOrigins: pages.origin });
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('subscribes, streams frames, clicks, and shows the new colour', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'sio_click' });
    const socket = open();
    const subscribed = nextEvent(socket, 'subscribed');
    const firstRed = frameOfColour(socket, RED);
    socket.emit('subscribe', { session_id: id });
    const confirmation = await subscribed;
    assert.equal(confirmation.session_id, id);
    assert.equal(typeof confirmation.fps, 'number');
    assert.equal(typeof confirmation.quality, 'number');
    const frame = await nextEvent(socket, 'frame');
    assert.deepEqual(Object.keys(frame).sort(), ['image', 'size', 'timestamp']);
    assert.equal(frame.size, Buffer.from(frame.image, 'base64').length);
    assert.ok(Math.abs(Date.now() - frame.timestamp) < 600_000, `timestamp ${frame.timestamp} is ms since the epoch`);
    await firstRed;

    const blue = frameOfColour(socket, BLUE);
    const ack = nextEvent(socket, 'input:acknowledged');
    socket.emit('input:click', { x: 100, y: 100 });
    assert.deepEqual(await ack, { type: 'click' });
    await blue;

    // input:key and input:move are accepted too.
    const keyAck = nextEvent(socket, 'input:acknowledged', (p) => p.type === 'key');
    socket.emit('input:key', { key: 'Escape' });
    await keyAck;
    const moveAck = nextEvent(socket, 'input:acknowledged', (p) => p.type === 'move');
    socket.emit('input:move', { x: 3, y: 4 });
    await moveAck;

    // The page is static now (Chromium sends nothing new), yet a late subscriber gets the
    // latest frame at once, showing the page as it is.
    const late = open();
    const lateFrame = frameOfColour(late, BLUE, 10_000);
    late.emit('subscribe', { session_id: id });
    await lateFrame;

    const unsubscribed = nextEvent(socket, 'unsubscribed');
    socket.emit('unsubscribe');
    await unsubscribed;
  });

  it('watches and drives a session named as a hub stream, subscribe {stream: "session:<id>"}', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'sio_by_stream' });
    const socket = open({ transports: ['websocket'] });
    const subscribed = nextEvent(socket, 'subscribed');
    const red = frameOfColour(socket, RED);
    socket.emit('subscribe', { stream: `session:${id}` });
    const confirmation = await subscribed;
    assert.equal(confirmation.stream, `session:${id}`);
    await red;
    // The stream is a browser session's: it takes input, as under subscribe {session_id}; a
    // client's ack callback gets the acknowledgement once the page has the click.
    const blue = frameOfColour(socket, BLUE);
    const ack = nextEvent(socket, 'input:acknowledged');
    assert.deepEqual(await socket.timeout(20_000).emitWithAck('input:click', { x: 100, y: 100 }), { type: 'click' });
    assert.deepEqual(await ack, { type: 'click' });
    await blue;
    // Switching to a stream without input: input is refused there, and the session was left.
    const demo = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { stream: 'demo' });
    await demo;
    assert.equal(server.server.sessions.get(id)!.stream.subscriberCount, 0);
    const refused = nextEvent(socket, 'error');
    socket.emit('input:click', { x: 100, y: 100 });
    assert.equal((await refused).code, 'input_not_accepted');
    socket.disconnect();
  });

  it('answers quality:set, fps:set and adaptive:toggle with the seed\'s update events', async () => {
    await createLoadedSession(server, `${pages.origin}/`, { session_id: 'sio_settings' });
    const socket = open();
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: 'sio_settings' });
    await subscribed;

    // quality:set switches adaptive mode off for this client (seeds/003).
    const adaptiveOff = nextEvent(socket, 'adaptive:updated');
    const quality = nextEvent(socket, 'quality:updated');
    socket.emit('quality:set', { quality: 40 });
    assert.deepEqual(await quality, { quality: 40 });
    assert.deepEqual(await adaptiveOff, { enabled: false });
    const fps = nextEvent(socket, 'fps:updated');
    socket.emit('fps:set', { fps: 5 });
    assert.deepEqual(await fps, { fps: 5 });
    const adaptiveOn = nextEvent(socket, 'adaptive:updated');
    socket.emit('adaptive:toggle', { enabled: true });
    assert.deepEqual(await adaptiveOn, { enabled: true });

    // Manual quality below the capture quality gives a smaller re-encode, built once for all.
    const low = open();
    const lowSubscribed = nextEvent(low, 'subscribed');
    // Listening before subscribing: the page is static, so the catch-up frame sent on
    // subscribe is the only one, and it may arrive in the same read as 'subscribed'.
    const lowFirstFrame = nextEvent(low, 'frame');
    low.emit('quality:set', { quality: 10 });
    low.emit('subscribe', { session_id: 'sio_settings' });
    assert.equal((await lowSubscribed).quality, 10);
    const lowFrame = await lowFirstFrame;
    assert.ok(near(await pixelAt(Buffer.from(lowFrame.image, 'base64'), 10, 10), RED, 60));

    // Deleting the session tells its viewers.
    const ended = nextEvent(low, 'error', (e) => /closed/.test(e.message));
    assert.equal((await fetch(`${server.http}/api/session/sio_settings`, { method: 'DELETE' })).status, 200);
    const told = await ended;
    assert.match(told.message, /session sio_settings was closed \(deleted\)/);
    assert.equal(told.code, 'stream_ended');
    // The socket stays, its subscription gone: input now has nowhere to go.
    const refused = nextEvent(low, 'error');
    low.emit('input:click', { x: 1, y: 1 });
    assert.equal((await refused).code, 'input_not_accepted');
  });

  it('encodes a frame once per variant however many sockets want it', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { session_id: 'sio_shared_encode', width: 320, height: 240 });
    const stream = server.server.sessions.get(id)!.stream;
    const viewers = Array.from({ length: 6 }, () => open({ transports: ['websocket'] }));
    for (const [i, socket] of viewers.entries()) {
      const subscribed = nextEvent(socket, 'subscribed');
      // Two variants: half the sockets at q40, half at q60 (both below the capture quality).
      socket.emit('quality:set', { quality: i % 2 ? 40 : 60 });
      socket.emit('subscribe', { session_id: id });
      await subscribed;
    }
    const before = { encodes: stream.variants.encodes, frames: stream.stats().framesIn };
    // Three frames each: the first may be the catch-up frame sent on subscribe, which the
    // source produced before `before` was read; the other two are new.
    const frameOf = (socket: (typeof viewers)[number]) => nextEvent(socket, 'frame');
    await Promise.all(viewers.map((socket) => frameOf(socket).then(() => frameOf(socket)).then(() => frameOf(socket))));
    const frames = stream.stats().framesIn - before.frames;
    const encodes = stream.variants.encodes - before.encodes;
    assert.ok(frames >= 2, `${frames} frames`);
    // At most one encode per variant per frame (+1 for a frame in flight at either edge), not one per socket.
    assert.ok(encodes <= 2 * (frames + 1), `${encodes} encodes for ${frames} frames and 6 sockets`);
    for (const socket of viewers) socket.disconnect();
  });

  it('subscribe {frames: false} gets the session\'s events and takes input, but no frames (a page playing /video/:id)', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { session_id: 'sio_frameless', width: 320, height: 240 });
    const frameless = open({ transports: ['websocket'] });
    const watching = open({ transports: ['websocket'] });
    let framesWithout = 0;
    frameless.on('frame', () => framesWithout++);
    const subscribed = nextEvent(frameless, 'subscribed');
    frameless.emit('subscribe', { session_id: id, frames: false });
    assert.equal((await subscribed).session_id, id);
    const watched = nextEvent(watching, 'subscribed');
    watching.emit('subscribe', { session_id: id });
    await watched;
    // The animated page paints every frame: three reach the other socket meanwhile.
    for (let i = 0; i < 3; i++) await nextEvent(watching, 'frame');
    assert.equal(framesWithout, 0);
    // Input still goes to the page.
    const acked = nextEvent(frameless, 'input:acknowledged');
    frameless.emit('input:click', { x: 10, y: 10 });
    assert.equal((await acked).type, 'click');
    // `frames` is a boolean or nothing.
    const refused = nextEvent(frameless, 'error');
    frameless.emit('subscribe', { session_id: id, frames: 'no' });
    assert.equal((await refused).code, 'invalid_message');
  });

  it('answers bad events with error {message} and keeps serving', async () => {
    const socket = open();
    const bad: [string, unknown][] = [
      ['subscribe', {}], ['subscribe', 'x'], ['subscribe', { session_id: 'no_such_session' }],
      ['input:click', { x: 1, y: 1 }], // not subscribed yet
      ['quality:set', { quality: 500 }], ['quality:set', { quality: 'high' }], ['fps:set', { fps: 0 }], ['fps:set', {}],
      ['adaptive:toggle', { enabled: 'yes' }], ['teleport', { to: 'mars' }],
    ];
    for (const [event, payload] of bad) {
      const error = nextEvent(socket, 'error');
      socket.emit(event, payload);
      const { message } = await error;
      assert.equal(typeof message, 'string', `${event} ${JSON.stringify(payload)}`);
      assert.ok(message.length > 0);
    }

    await createLoadedSession(server, `${pages.origin}/`, { session_id: 'sio_bad' });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: 'sio_bad' });
    await subscribed;
    const badInput: [string, unknown][] = [
      ['input:click', { x: 'a', y: 1 }], ['input:click', { x: -5, y: 1 }], ['input:click', { x: 1, y: 1e9 }],
      ['input:click', { x: null, y: 1 }], ['input:scroll', { deltaX: 0, deltaY: 1e12 }], ['input:scroll', 'down'],
      ['input:text', { text: 'y'.repeat(10_000) }], ['input:text', { text: ['a'] }], ['input:key', { key: '../../etc' }],
      ['input:key', { key: 'NotAKey' }], ['input:move', {}],
    ];
    for (const [event, payload] of badInput) {
      const error = nextEvent(socket, 'error');
      socket.emit(event, payload);
      assert.match((await error).message, /input|key/, `${event} ${JSON.stringify(payload)}`);
    }
    // Still subscribed and served.
    await nextEvent(socket, 'frame', () => true, 15_000).catch(() => undefined);
    const ack = nextEvent(socket, 'input:acknowledged');
    socket.emit('input:scroll', { deltaX: 0, deltaY: 10 });
    assert.deepEqual(await ack, { type: 'scroll' });
    assert.equal(socket.connected, true);
  });

  it('rate-limits a flood of input per socket without disturbing another client', async () => {
    await createLoadedSession(server, `${pages.origin}/`, { session_id: 'sio_flood' });
    const flood = open({ transports: ['websocket'] });
    const calm = open({ transports: ['websocket'] });
    for (const socket of [flood, calm]) {
      const subscribed = nextEvent(socket, 'subscribed');
      socket.emit('subscribe', { session_id: 'sio_flood' });
      await subscribed;
    }
    const limited = nextEvent(flood, 'error', (e) => /too many events/.test(e.message));
    for (let i = 0; i < 400; i++) flood.emit('input:move', { x: i % 300, y: 10 });
    await limited;
    const ack = nextEvent(calm, 'input:acknowledged', (p) => p.type === 'click');
    calm.emit('input:click', { x: 5, y: 5 });
    await ack;
    assert.equal(flood.connected, true);
  });

  it('serves framehub\'s own WebSocket routes and Socket.IO on one server at once', async () => {
    await createLoadedSession(server, `${pages.origin}/`, { session_id: 'sio_shared' });
    const socket = open({ transports: ['websocket'] });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: 'sio_shared' });
    await subscribed;
    const ws = new WebSocket(`${server.ws}/ws/video_feed?stream=session:sio_shared`);
    try {
      const [image] = (await within(once(ws, 'message'), 15_000, 'a video_feed frame')) as [Buffer];
      assert.ok(near(await pixelAt(image, 10, 10), RED));
      // A click over Socket.IO shows on the raw WebSocket route: both transports live side by side.
      const blue = new Promise<void>((resolve) => {
        ws.on('message', async function wsOnMessage(data: Buffer) {
          if (near(await pixelAt(data, 10, 10), BLUE)) resolve();
        });
      });
      const ack = nextEvent(socket, 'input:acknowledged');
      socket.emit('input:click', { x: 50, y: 50 });
      await ack;
      await within(blue, 15_000, 'a blue frame on /ws/video_feed');
    } finally {
      ws.close();
    }
  });

  it('serves /socket.io/socket.io.js for seeds/003\'s WebView page, which then shows the stream', async (t) => {
    await createLoadedSession(server, `${pages.origin}/`, { session_id: 'webview1' });
    const browser: TestBrowser = await launchBrowser();
    t.after(() => browser.close());
    const { page, errors } = await browser.newPage();
    await page.goto(`${pages.origin}/webview?framehub=${encodeURIComponent(server.http)}&session=webview1`);
    await page.waitForFunction(() => (document.getElementById('view') as HTMLImageElement | null)?.naturalWidth === 320, undefined, { timeout: 20_000 })
      .catch((error: Error) => assert.fail(`${error.message}; page errors: ${errors.join(' | ')}`));
  });
});
