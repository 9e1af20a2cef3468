// Issue 14, point 6: Socket.IO resolves any stream through the hub (`subscribe {stream}`), with
// the WebSocket routes' refusals, and offers input only where the stream takes it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import sharp from 'sharp';
import { SharpEncoder } from '../src/hub/encoder.js';
import { StreamUnavailableError } from '../src/hub/hub.js';
import { Stream } from '../src/hub/stream.js';
import { MAX_VARIANTS } from '../src/hub/variant.js';
import { PushSource } from '../src/sources/push-source.js';
import { WebSocket } from 'ws';
import { nextJson, startServer, type TestServer } from './helpers.js';
import { nextEvent } from './wait.js';

/** A source the test ends for good, as a closed window or a deleted session ends. */
class EndingSource extends PushSource {
  end(): void {
    this.emit('exit', { error: new Error('the test source is gone'), restartable: false });
  }
}

interface ErrorPayload {
  message: string;
  code: string;
}

describe('Socket.IO watches any stream of the hub', () => {
  let server: TestServer;
  const sockets: Socket[] = [];
  const open = async (options: Parameters<typeof connect>[1] = { transports: ['websocket'] }) => {
    const socket = connect(server.http, { reconnection: false, ...options });
    sockets.push(socket);
    await nextEvent(socket, 'connect');
    return socket;
  };
  /** The `error` a Socket.IO client gets for `event payload`. */
  const refusal = async (socket: Socket, event: string, payload: unknown): Promise<ErrorPayload> => {
    const error = nextEvent<ErrorPayload>(socket, 'error');
    socket.emit(event, payload);
    return error;
  };
  /** The `error` message the WebSocket route `/stream/:id` sends for the same id. */
  const wsRefusal = async (id: string): Promise<ErrorPayload> => {
    const ws = new WebSocket(`${server.ws}/stream/${id}`);
    ws.on('error', () => {}); // the refusal closes it; the message is what counts
    const error = nextJson(ws, (m) => m.type === 'error');
    try {
      return (await error).error;
    } finally {
      ws.terminate();
    }
  };

  before(async () => {
    server = await startServer();
    // Ids a resolver owns but cannot open now (a window past MAX_WINDOW_STREAMS), or fails on.
    server.server.hub.addResolver((id) => {
      if (id === 'busy:1') throw new StreamUnavailableError('too many busy streams (1 open); try again when one ends');
      if (id === 'broken:1') throw new Error('a resolver bug');
      return undefined;
    });
  });
  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await server?.close();
  });

  it('subscribes to the demo stream by {stream} and receives its frames as base64 JPEG', async () => {
    // socket.io-client's default: long-polling first, then the upgrade; frames flow on both.
    const socket = await open({});
    const subscribed = nextEvent(socket, 'subscribed');
    const firstFrame = nextEvent(socket, 'frame');
    socket.emit('subscribe', { stream: 'demo' });
    const confirmation = await subscribed;
    assert.equal(confirmation.stream, 'demo');
    assert.equal(typeof confirmation.fps, 'number');
    assert.equal(typeof confirmation.quality, 'number');
    const frame = await firstFrame;
    assert.deepEqual(Object.keys(frame).sort(), ['image', 'size', 'timestamp']);
    const jpeg = Buffer.from(frame.image, 'base64');
    assert.equal(frame.size, jpeg.length);
    const { format, width, height } = await sharp(jpeg).metadata();
    assert.deepEqual({ format, width, height }, { format: 'jpeg', width: 320, height: 180 });
    // The pattern moves: frames keep coming, and the socket counts as one of the stream's subscribers.
    await nextEvent(socket, 'frame', (f) => f.timestamp > frame.timestamp);
    assert.equal(server.server.hub.resolve('demo')!.subscriberCount, 1);

    const unsubscribed = nextEvent(socket, 'unsubscribed');
    socket.emit('unsubscribe');
    await unsubscribed;
    assert.equal(server.server.hub.resolve('demo')!.subscriberCount, 0);
  });

  it('takes "0" for the primary stream, and quality/fps as for a session', async () => {
    const socket = await open();
    // Set before subscribing, as seeds/003's client may: the subscription starts with them.
    const quality = nextEvent(socket, 'quality:updated');
    socket.emit('quality:set', { quality: 30 });
    assert.deepEqual(await quality, { quality: 30 });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { stream: '0' });
    assert.deepEqual(await subscribed, { stream: 'demo', fps: 20, quality: 30 });
    const fps = nextEvent(socket, 'fps:updated');
    socket.emit('fps:set', { fps: 5 });
    assert.deepEqual(await fps, { fps: 5 });
    const frame = await nextEvent(socket, 'frame');
    assert.equal((await sharp(Buffer.from(frame.image, 'base64')).metadata()).format, 'jpeg');
    socket.emit('unsubscribe');
    await nextEvent(socket, 'unsubscribed');
  });

  it('refuses an unknown or unavailable stream with the WebSocket routes\' codes and sentences, and keeps the socket', async () => {
    const socket = await open();
    for (const id of ['nope', 'busy:1']) {
      const got = await refusal(socket, 'subscribe', { stream: id });
      assert.deepEqual(got, await wsRefusal(id), `subscribe {stream: ${id}}`);
    }
    assert.equal((await refusal(socket, 'subscribe', { stream: 'nope' })).code, 'stream_not_found');
    assert.equal((await refusal(socket, 'subscribe', { stream: 'busy:1' })).code, 'stream_unavailable');
    assert.deepEqual(await refusal(socket, 'subscribe', { stream: 'broken:1' }), { code: 'internal_error', message: 'the stream could not be opened' });
    // An id the hub's id syntax refuses is simply not found, as on /stream/:id.
    assert.equal((await refusal(socket, 'subscribe', { stream: '../etc/passwd' })).code, 'stream_not_found');
    // seeds/003's form keeps its sentence, with the code the session REST routes answer an unknown session with.
    const noSession = await refusal(socket, 'subscribe', { session_id: 'no_such_session' });
    assert.equal(noSession.code, 'session_not_found');
    assert.match(noSession.message, /^no session "no_such_session"; create it with POST \/api\/session\/create$/);

    for (const payload of [{ stream: 5 }, { stream: '' }, { stream: null }, { stream: ['demo'] }, { stream: 'demo', session_id: 'x' }, {}]) {
      const got = await refusal(socket, 'subscribe', payload);
      assert.equal(got.code, 'invalid_message', JSON.stringify(payload));
      assert.match(got.message, /^subscribe needs/);
    }
    assert.equal(socket.connected, true);
    // Nothing was subscribed by any of it.
    assert.equal(server.server.hub.resolve('demo')!.subscriberCount, 0);
  });

  it('refuses a subscription past the stream\'s bound on variants and keeps the one it had', async () => {
    const demo = server.server.hub.resolve('demo')!;
    const socket = await open();
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('quality:set', { quality: 75 });
    socket.emit('subscribe', { stream: 'demo' });
    await subscribed;
    // Other viewers hold every other variant the stream may serve.
    const releases = Array.from({ length: MAX_VARIANTS - 1 }, (_, i) => demo.variants.claim({ format: 'jpeg', quality: 20 + i }));
    try {
      const other = await open();
      other.emit('quality:set', { quality: 99 });
      const got = await refusal(other, 'subscribe', { stream: 'demo' });
      assert.equal(got.code, 'too_many_variants');
      // The first socket's subscription is untouched; re-subscribing to its own variant still works.
      await nextEvent(socket, 'frame');
      const again = nextEvent(socket, 'subscribed');
      socket.emit('subscribe', { stream: 'demo' });
      assert.equal((await again).quality, 75);
      assert.equal(demo.subscriberCount, 1);
    } finally {
      for (const release of releases) release();
      socket.emit('unsubscribe');
      await nextEvent(socket, 'unsubscribed');
    }
  });

  it('refuses input on a stream that takes none with input_not_accepted, and goes on streaming', async () => {
    const socket = await open();
    const before = await refusal(socket, 'input:click', { x: 1, y: 1 });
    assert.equal(before.code, 'input_not_accepted');
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { stream: 'demo' });
    await subscribed;
    const inputs: [string, unknown][] = [
      ['input:click', { x: 10, y: 10 }], ['input:scroll', { deltaX: 0, deltaY: 5 }], ['input:text', { text: 'hi' }],
      ['input:key', { key: 'Enter' }], ['input:move', { x: 1, y: 1 }], ['input:click', 'garbage'],
    ];
    for (const [event, payload] of inputs) {
      const got = await refusal(socket, event, payload);
      assert.equal(got.code, 'input_not_accepted', event);
      assert.match(got.message, new RegExp(`^${event} refused: stream "demo" takes no input`));
    }
    const acknowledged: unknown[] = [];
    socket.on('input:acknowledged', (payload) => acknowledged.push(payload));
    const frame = await nextEvent(socket, 'frame');
    await nextEvent(socket, 'frame', (f) => f.timestamp > frame.timestamp);
    assert.deepEqual(acknowledged, []);
    assert.equal(socket.connected, true);
    socket.emit('unsubscribe');
    await nextEvent(socket, 'unsubscribed');
  });

  it('tells a viewer when its stream ends for good, drops the subscription and keeps the socket', async () => {
    const source = new EndingSource();
    const stream = new Stream('ending', source, new SharpEncoder(), { idleGraceMs: 0 });
    server.server.hub.add(stream);
    try {
      const socket = await open();
      const subscribed = nextEvent(socket, 'subscribed');
      socket.emit('subscribe', { stream: 'ending' });
      await subscribed;
      assert.equal(stream.subscriberCount, 1);
      const ended = nextEvent<ErrorPayload>(socket, 'error');
      source.end();
      assert.deepEqual(await ended, { message: 'the test source is gone', code: 'stream_ended' });
      assert.equal(stream.subscriberCount, 0);
      // An ended stream is refused at once, as the WebSocket routes refuse it.
      assert.deepEqual(await refusal(socket, 'subscribe', { stream: 'ending' }), { message: 'stream ending has ended', code: 'stream_ended' });
      const demo = nextEvent(socket, 'subscribed');
      socket.emit('subscribe', { stream: 'demo' });
      assert.equal((await demo).stream, 'demo');
      socket.emit('unsubscribe');
      await nextEvent(socket, 'unsubscribed');
    } finally {
      server.server.hub.remove('ending');
      await stream.close();
    }
  });

  it('answers a client that passes an ack callback through it too: the answer\'s payload, or {error: {code, message}}', async () => {
    const socket = await open();
    const ask = (event: string, payload?: unknown) =>
      (payload === undefined ? socket.timeout(5000).emitWithAck(event) : socket.timeout(5000).emitWithAck(event, payload));
    // The answer event still comes for clients that listen to events.
    const subscribedEvent = nextEvent(socket, 'subscribed');
    assert.deepEqual(await ask('subscribe', { stream: 'demo' }), { stream: 'demo', fps: 20, quality: 75 });
    await subscribedEvent;
    assert.deepEqual(await ask('input:click', { x: 1, y: 1 }), {
      error: { code: 'input_not_accepted', message: 'input:click refused: stream "demo" takes no input; only a browser session does (subscribe {session_id} or {stream: "session:<id>"})' },
    });
    assert.deepEqual(await ask('subscribe', { stream: 'nope' }), { error: { code: 'stream_not_found', message: 'no stream with id "nope"' } });
    assert.equal(((await ask('teleport', {})) as { error: ErrorPayload }).error.code, 'unknown_command');
    assert.deepEqual(await ask('fps:set', { fps: 7 }), { fps: 7 });
    assert.deepEqual(await ask('unsubscribe'), {});
  });

  it('gives every error a code from the WebSocket routes\' vocabulary', async () => {
    const socket = await open();
    const cases: [string, unknown, string][] = [
      ['teleport', {}, 'unknown_command'],
      ['quality:set', { quality: 500 }, 'invalid_options'],
      ['fps:set', { fps: 0 }, 'invalid_options'],
      ['adaptive:toggle', { enabled: 'yes' }, 'invalid_options'],
      ['subscribe', 'demo', 'invalid_message'],
    ];
    for (const [event, payload, code] of cases) {
      const got = await refusal(socket, event, payload);
      assert.equal(got.code, code, `${event} ${JSON.stringify(payload)}`);
      assert.ok(got.message.length > 0);
    }
  });
});
