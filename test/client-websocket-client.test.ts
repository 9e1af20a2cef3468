import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket as WsWebSocket, type WebSocket as ServerSocket } from 'ws';
import {
  WebSocketClient, type BaseEvent, type ImageGenerationCompletedEvent, type EventTypeMap,
} from '../src/client/index.js';
import { Inbox, startShapeServer, type ShapeServer } from './client-helpers.js';
import { nextEvent } from './wait.js';

const now = () => new Date().toISOString();
const envelope = (type: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type, payload, timestamp: now(), ...extra });

describe('WebSocketClient', () => {
  let server: ShapeServer;
  const clients: WebSocketClient[] = [];
  before(async () => { server = await startShapeServer(); });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server.close();
  });

  async function connected(options = {}): Promise<{ client: WebSocketClient; ws: ServerSocket }> {
    const client = new WebSocketClient(`${server.url}/ws`, async () => 'jwt', { heartbeatInterval: 0, ...options });
    clients.push(client);
    const connection = server.nextConnection();
    await client.connect();
    return { client, ws: (await connection).ws };
  }

  it('delivers typed image.generation.* and system.notification events', async () => {
    const { client, ws } = await connected();
    const seen = new Inbox<[string, BaseEvent]>();
    const types = ['image.generation.started', 'image.generation.progress', 'image.generation.completed', 'image.generation.failed', 'system.notification'] as const;
    for (const type of types) client.on(type, (event) => seen.push([type, event]));
    const all = new Inbox<BaseEvent>();
    client.on('message', all.push);
    ws.send(envelope('image.generation.started', { job_id: 'j1', user_id: 'u1', prompt: 'a cat' }));
    ws.send(envelope('image.generation.progress', { job_id: 'j1', progress: 40, stage: 'sampling' }));
    ws.send(envelope('image.generation.completed', { job_id: 'j1', image_url: 'http://x/1.png', metadata: { seed: 1 } }));
    ws.send(envelope('image.generation.failed', { job_id: 'j2', error: 'out of memory', retry_allowed: true }));
    ws.send(envelope('system.notification', { severity: 'warning', message: 'maintenance', action_url: 'http://x' }));
    ws.send(envelope('custom.thing', { a: 1 }));
    const got = await seen.next(5);
    assert.deepEqual(got.map(([t, e]) => [t, e.type]), types.map((t) => [t, t]));
    const completed = got[2]![1] as ImageGenerationCompletedEvent;
    assert.equal(completed.payload.image_url, 'http://x/1.png');
    assert.deepEqual(completed.payload.metadata, { seed: 1 });
    assert.equal(typeof completed.timestamp, 'string');
    await all.next(6);
    assert.equal(all.items[5]!.type, 'custom.thing');
    client.disconnect();
  });

  it('emits a parse error for every malformed message and stays connected', async () => {
    const { client, ws } = await connected();
    const errors = new Inbox<EventTypeMap['error']>();
    client.on('error', errors.push);
    const disconnected = new Inbox<unknown>();
    client.on('disconnected', disconnected.push);
    ws.send('this is not json');
    ws.send('[1, 2, 3]');
    ws.send(JSON.stringify({ payload: {} }));
    ws.send(JSON.stringify({ type: 'image.generation.completed', payload: { job_id: 'j1' } }));
    ws.send(JSON.stringify({ type: 'system.notification', payload: 'oops' }));
    ws.send(Buffer.from([0xde, 0xad]));
    const got = await errors.next(6);
    assert.ok(got.every((e) => e.context === 'parse'), JSON.stringify(got.map((e) => e.context)));
    assert.ok(got.every((e) => e.error instanceof Error && typeof e.timestamp === 'string'));
    assert.match(got[0]!.error.message, /malformed JSON/);
    assert.match(got[3]!.error.message, /payload\.image_url/);
    const ok = nextEvent(client, 'image.generation.progress');
    ws.send(envelope('image.generation.progress', { job_id: 'j1', progress: 99 }));
    assert.equal((await ok).payload.progress, 99);
    assert.equal(client.state, 'connected');
    assert.deepEqual(disconnected.items, []);
    client.disconnect();
  });

  it('a throwing handler does not stop the other handlers and is reported', async () => {
    const { client, ws } = await connected();
    const calls: string[] = [];
    client.on('image.generation.completed', () => { calls.push('first'); throw new Error('boom'); });
    client.on('image.generation.completed', () => calls.push('second'));
    const error = nextEvent(client, 'error');
    ws.send(envelope('image.generation.completed', { job_id: 'j', image_url: 'u' }));
    const reported = await error;
    assert.deepEqual(calls, ['first', 'second']);
    assert.equal(reported.context, 'handler');
    assert.match(reported.error.message, /boom/);
    assert.equal(client.state, 'connected');
    client.disconnect();
  });

  it('a server event named like a client event does not pose as one', async () => {
    const { client, ws } = await connected();
    const errors = new Inbox<unknown>();
    client.on('error', errors.push);
    const message = nextEvent(client, 'message');
    ws.send(envelope('error', { code: 'x', message: 'server-side problem' }));
    assert.equal((await message).type, 'error');
    assert.deepEqual(errors.items, []);
    client.disconnect();
  });

  it('send() throws when not connected and reports a send error; sends JSON when connected', async () => {
    const client = new WebSocketClient(`${server.url}/ws`, async () => 'jwt', { heartbeatInterval: 0 });
    clients.push(client);
    const errors = new Inbox<EventTypeMap['error']>();
    client.on('error', errors.push);
    const event = { type: 'custom.event', payload: { data: 'value' }, timestamp: now() };
    assert.throws(() => client.send(event), /cannot send: socket is disconnected/);
    assert.equal(errors.items[0]?.context, 'send');
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    const received = new Inbox<unknown>();
    ws.on('message', (data) => received.push(JSON.parse(data.toString())));
    client.send(event);
    assert.deepEqual(await received.next(1), [event]);
    client.disconnect();
  });

  it('on/off/once and the connection states of seeds/001', async () => {
    const client = new WebSocketClient(`${server.url}/ws`, async () => 'jwt', { heartbeatInterval: 0 });
    clients.push(client);
    const states: string[] = [];
    client.on('state:change', (e) => states.push(`${e.oldState}->${e.newState}`));
    let onceCalls = 0;
    client.once('connected', () => onceCalls++);
    let offCalls = 0;
    const handler = () => offCalls++;
    client.on('image.generation.completed', handler);
    client.off('image.generation.completed', handler);
    assert.equal(client.state, 'disconnected');
    const connection = server.nextConnection();
    const connecting = client.connect();
    assert.equal(client.state, 'connecting');
    await connecting;
    const { ws } = await connection;
    assert.equal(client.state, 'connected');
    const done = nextEvent(client, 'message');
    ws.send(envelope('image.generation.completed', { job_id: 'j', image_url: 'u' }));
    await done;
    const gone = nextEvent(client, 'disconnected');
    client.disconnect();
    assert.equal(client.state, 'disconnecting');
    await gone;
    assert.equal(client.state, 'disconnected');
    // Manual reconnect after disconnect(), as seeds/001 documents.
    const again = server.nextConnection();
    await client.connect();
    await again;
    client.disconnect();
    assert.equal(onceCalls, 1);
    assert.equal(offCalls, 0);
    assert.deepEqual(states.slice(0, 4), ['disconnected->connecting', 'connecting->connected', 'connected->disconnecting', 'disconnecting->disconnected']);
  });

  it('autoReconnect: false leaves the client disconnected after a loss', async () => {
    const { client, ws } = await connected({ autoReconnect: false });
    const gone = nextEvent(client, 'disconnected');
    ws.terminate();
    const event = await gone;
    assert.equal(event.willReconnect, false);
    assert.equal(client.state, 'disconnected');
  });

  it('runs seeds/001 "Node.js Usage" unchanged but for the URL: ws polyfilled as the global WebSocket', async () => {
    const g = globalThis as { WebSocket?: unknown };
    const before = g.WebSocket;
    g.WebSocket = WsWebSocket; // (global as any).WebSocket = WebSocket;
    try {
      process.env['JWT_TOKEN'] = 'node-token';
      const client = new WebSocketClient(`${server.url}/ws`, async () => process.env['JWT_TOKEN'] || '');
      clients.push(client);
      const images: string[] = [];
      client.on('image.generation.completed', (event) => {
        images.push(`Image ready: ${event.payload.image_url}`);
        images.push(`Job ID: ${event.payload.job_id}`);
      });
      const connection = server.nextConnection();
      await client.connect();
      const { ws, url } = await connection;
      assert.equal(url.searchParams.get('token'), 'node-token');
      const done = nextEvent(client, 'image.generation.completed');
      ws.send(envelope('image.generation.completed', { job_id: 'job-7', image_url: 'http://img/7.png', metadata: {} }));
      await done;
      assert.deepEqual(images, ['Image ready: http://img/7.png', 'Job ID: job-7']);
      client.disconnect();
    } finally {
      g.WebSocket = before;
      delete process.env['JWT_TOKEN'];
    }
  });
});
