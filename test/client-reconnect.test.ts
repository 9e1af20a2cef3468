import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExponentialBackoff, FixedDelay, PixelSocket, ReconnectingSocket, WebSocketClient, HEARTBEAT_TIMEOUT_CODE,
  type ConnectionState, type SocketEvents,
} from '../src/client/index.js';
import { FakeClock } from './fake-clock.js';
import { Inbox, deferred, startShapeServer, type ShapeServer } from './client-helpers.js';
import { nextEvent, withTimeout } from './wait.js';

const exact = () => 0.5; // jitter term (2r - 1) is 0: delays come out exact

describe('reconnect policies', () => {
  it('ExponentialBackoff doubles from 1 s and caps at maxDelay (seeds/001 defaults)', () => {
    const policy = new ExponentialBackoff({ random: exact });
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map((n) => policy.nextDelay(n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('ExponentialBackoff spreads delays by the jitter fraction and never beyond the cap', () => {
    const low = new ExponentialBackoff({ random: () => 0, jitter: 0.1 });
    const high = new ExponentialBackoff({ random: () => 0.999999, jitter: 0.1 });
    assert.equal(low.nextDelay(1), 900);
    assert.equal(high.nextDelay(1), 1100);
    assert.equal(high.nextDelay(10), 30000);
    const real = new ExponentialBackoff();
    for (let i = 0; i < 100; i++) {
      const d = real.nextDelay(3)!;
      assert.ok(d >= 3600 && d <= 4400, `${d} within 4000 ± 10 %`);
    }
  });

  it('ExponentialBackoff gives up after maxAttempts', () => {
    const policy = new ExponentialBackoff({ random: exact, maxAttempts: 2, initialDelay: 10, maxDelay: 15 });
    assert.deepEqual([1, 2, 3].map((n) => policy.nextDelay(n)), [10, 15, null]);
  });

  it('FixedDelay waits the same delay maxAttempts times (seeds/000 defaults: 5000 ms, 10)', () => {
    const policy = new FixedDelay();
    assert.deepEqual(Array.from({ length: 11 }, (_, i) => policy.nextDelay(i + 1)), [...Array(10).fill(5000), null]);
  });

  it('rejects negative delays', () => {
    assert.throws(() => new ExponentialBackoff({ initialDelay: -1 }), /initialDelay/);
    assert.throws(() => new FixedDelay({ delay: Number.NaN }), /delay/);
  });
});

describe('ReconnectingSocket across a server kill and restart', () => {
  const servers: ShapeServer[] = [];
  const sockets: Array<{ disconnect(): void }> = [];
  after(async () => {
    for (const s of sockets) s.disconnect();
    for (const s of servers) await s.close();
  });

  async function start(port = 0): Promise<ShapeServer> {
    const server = await startShapeServer(port);
    servers.push(server);
    return server;
  }

  it('retries after 1 s, 2 s, 4 s, reconnects to the restarted server, and starts over at 1 s', async () => {
    let server = await start();
    const port = server.port;
    const clock = new FakeClock();
    const socket = new ReconnectingSocket({ url: server.url, clock, policy: new ExponentialBackoff({ random: exact }) });
    sockets.push(socket);
    const delays = new Inbox<SocketEvents['reconnecting']>();
    const states: ConnectionState[] = [];
    socket.on('reconnecting', delays.push);
    socket.on('state:change', (e) => states.push(e.newState));
    socket.on('error', () => {}); // refused connections are expected here

    const firstConnection = server.nextConnection();
    await socket.connect();
    await firstConnection;
    await server.kill();
    await delays.next(1, 5000, 'first reconnect scheduled');
    for (const [i, delay] of [[1, 1000], [2, 2000]] as const) {
      // The server is down: the attempt is refused and the next, longer delay is scheduled.
      await clock.advance(delay);
      await delays.next(i + 1, 5000, `reconnect ${i + 1} scheduled`);
    }
    server = await start(port);
    const reconnected = nextEvent(socket, 'open');
    const serverSide = server.nextConnection();
    await clock.advance(4000);
    await reconnected;
    await serverSide;
    assert.deepEqual(delays.items.map((d) => [d.attempt, d.delay]), [[1, 1000], [2, 2000], [3, 4000]]);
    assert.equal(socket.state, 'connected');
    assert.equal(socket.reconnectAttempts, 0);

    // Success reset the counter: the next loss waits 1 s again.
    await server.kill();
    await delays.next(4, 5000, 'reconnect after second loss');
    assert.deepEqual([delays.items[3]!.attempt, delays.items[3]!.delay], [1, 1000]);
    server = await start(port);
    const again = nextEvent(socket, 'open');
    await clock.advance(1000);
    await again;
    assert.deepEqual(states.slice(0, 4), ['connecting', 'connected', 'disconnected', 'connecting']);
    socket.disconnect();
    await nextEvent(socket, 'state:change', (e) => e.newState === 'disconnected');
  });

  it('disconnect() cancels the pending reconnect', async () => {
    const server = await start();
    const clock = new FakeClock();
    const socket = new ReconnectingSocket({ url: server.url, clock, policy: new ExponentialBackoff({ random: exact }) });
    sockets.push(socket);
    socket.on('error', () => {});
    const connection = server.nextConnection();
    await socket.connect();
    await connection;
    const scheduled = nextEvent(socket, 'reconnecting');
    await server.kill();
    await scheduled;
    assert.equal(clock.pendingTimers, 1);
    socket.disconnect();
    assert.equal(clock.pendingTimers, 0);
    assert.equal(socket.state, 'disconnected');
    const states: ConnectionState[] = [];
    socket.on('state:change', (e) => states.push(e.newState));
    await clock.advance(120_000);
    assert.deepEqual(states, [], 'no attempt after disconnect()');
  });

  it('gives up when the policy says so: connect() rejects and reconnect:failed fires', async () => {
    const probe = await start();
    const url = probe.url;
    await probe.close(); // nothing listens on this port now
    const clock = new FakeClock();
    const socket = new ReconnectingSocket({ url, clock, policy: new FixedDelay({ delay: 500, maxAttempts: 2 }) });
    sockets.push(socket);
    const errors = new Inbox<SocketEvents['error']>();
    socket.on('error', errors.push);
    const failed = nextEvent(socket, 'reconnect:failed');
    const connecting = socket.connect();
    const rejected = assert.rejects(connecting, /could not connect to ws:\/\/127\.0\.0\.1:\d+\/ after 2 reconnect attempt\(s\)/);
    await nextEvent(socket, 'reconnecting', (e) => e.attempt === 1);
    await clock.advance(500);
    await nextEvent(socket, 'reconnecting', (e) => e.attempt === 2);
    await clock.advance(500);
    assert.deepEqual(await failed, { attempts: 2 });
    await rejected;
    assert.equal(socket.state, 'disconnected');
    assert.ok(errors.items.length >= 3 && errors.items.every((e) => e.context === 'connection'));
  });

  it('seeds/000 "Handling Disconnections": onDisconnect, then reconnectDelay maxReconnectAttempts times', async () => {
    let server = await start();
    const port = server.port;
    const clock = new FakeClock();
    const disconnects: Array<[number, string]> = [];
    const scheduled = new Inbox<[number, number]>();
    const client = new PixelSocket({
      url: `${server.url}/ws/streaming`,
      autoReconnect: true,
      reconnectDelay: 3000,
      maxReconnectAttempts: 5,
      onDisconnect: (code, reason) => disconnects.push([code, reason]),
      onReconnecting: (attempt, delay) => scheduled.push([attempt, delay]),
      onError: () => {},
      saveImages: false,
      clock,
    });
    sockets.push(client);
    const connection = server.nextConnection();
    await client.connect();
    await connection;
    await server.kill();
    await scheduled.next(1);
    assert.equal(disconnects.length, 1);
    assert.equal(disconnects[0]![0], 1006);
    for (let i = 1; i < 3; i++) {
      await clock.advance(3000);
      await scheduled.next(i + 1);
    }
    assert.equal(client.getStats().reconnectAttempts, 3);
    server = await start(port);
    const back = server.nextConnection();
    await clock.advance(3000);
    await back;
    assert.deepEqual(scheduled.items, [[1, 3000], [2, 3000], [3, 3000]]);
    await withTimeout((async () => { while (!client.isConnected()) await new Promise((r) => setImmediate(r)); })(), 5000, 'isConnected');
    assert.equal(client.getStats().reconnectAttempts, 0);
    client.disconnect();
  });
});

describe('heartbeat and dead-peer detection', () => {
  const servers: ShapeServer[] = [];
  after(async () => { for (const s of servers) await s.close(); });

  it('sends seeds/001 heartbeats and drops a peer that answered one and then stays silent for two intervals', async () => {
    const server = await startShapeServer();
    servers.push(server);
    const clock = new FakeClock();
    const lines: string[] = [];
    const client = new WebSocketClient(server.url, async () => '', {
      heartbeatInterval: 1000, clock, reconnectPolicy: new ExponentialBackoff({ random: exact }), debug: (line) => lines.push(line),
    });
    client.on('error', () => {});
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    const fromClient = new Inbox<any>();
    ws.on('message', (data) => fromClient.push(JSON.parse(data.toString())));
    const serverSawClose = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));

    await clock.advance(1000);
    const [heartbeat] = await fromClient.next(1);
    assert.equal(heartbeat.type, 'heartbeat');
    assert.deepEqual(heartbeat.payload, {});
    assert.ok(!Number.isNaN(Date.parse(heartbeat.timestamp)));
    assert.equal(client.state, 'connected');
    // The server answers this one heartbeat (as framehub's /ws does), then falls silent.
    const answered = nextEvent(client, 'message', (event) => event.type === 'heartbeat.ack');
    ws.send(JSON.stringify({ type: 'heartbeat.ack', payload: {}, timestamp: new Date().toISOString() }));
    await answered;

    // One interval later the second heartbeat goes out (silent for 1000 ms: not yet dead) ...
    await clock.advance(1000);
    await fromClient.next(2);
    assert.equal(client.state, 'connected');
    // ... and at two silent intervals the peer is presumed dead.
    const lost = nextEvent(client, 'disconnected');
    await clock.advance(1000);
    const event = await lost;
    assert.equal(event.code, HEARTBEAT_TIMEOUT_CODE);
    assert.equal(event.willReconnect, true);
    assert.equal(client.state, 'disconnected');
    await withTimeout(serverSawClose, 5000, 'server-side close');
    assert.ok(lines.includes('heartbeat sent'), lines.join('\n'));
    assert.ok(lines.includes('peer answers heartbeats: dead-peer detection armed'), lines.join('\n'));
    assert.ok(lines.some((l) => /nothing received for 2000 ms: peer presumed dead/.test(l)), lines.join('\n'));
    // ... and it reconnects after the policy's first delay.
    const back = server.nextConnection();
    await clock.advance(1000);
    await back;
    await nextEvent(client, 'connected');
    client.disconnect();
  });

  // Issue 14 point 7: seeds/001 never says a server must answer heartbeats. Real time, short
  // intervals: the server counts the heartbeats it receives, so "several intervals" is an event.
  it('keeps a quiet connection to a server that never answers heartbeats, over many intervals', async () => {
    const server = await startShapeServer();
    servers.push(server);
    const client = new WebSocketClient(server.url, async () => '', { heartbeatInterval: 40, reconnectPolicy: new ExponentialBackoff({ random: exact }) });
    const errors: Error[] = [];
    client.on('error', ({ error }) => errors.push(error));
    const disconnects: number[] = [];
    client.on('disconnected', ({ code }) => disconnects.push(code));
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    let serverSawClose = false;
    ws.on('close', () => { serverSawClose = true; });
    const heartbeats = new Inbox<any>();
    ws.on('message', (data) => heartbeats.push(JSON.parse(data.toString())));
    // 8 heartbeats = 8 intervals of silence from the server, four times the two-interval timeout.
    const received = await heartbeats.next(8, 10_000);
    assert.ok(received.every((m) => m.type === 'heartbeat'));
    assert.equal(client.state, 'connected');
    assert.deepEqual(disconnects, []);
    assert.equal(serverSawClose, false);
    assert.equal(server.wss.clients.size, 1, 'still the first connection: no reconnect happened');
    assert.deepEqual(errors, []);
    client.disconnect();
  });

  it('still drops a server that answered a heartbeat and then went silent (real time, short intervals)', async () => {
    const server = await startShapeServer();
    servers.push(server);
    const client = new WebSocketClient(server.url, async () => '', { heartbeatInterval: 40, reconnectPolicy: new ExponentialBackoff({ random: exact }) });
    client.on('error', () => {});
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    const serverSawClose = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    ws.once('message', () => ws.send(JSON.stringify({ type: 'heartbeat.ack', payload: {}, timestamp: new Date().toISOString() })));
    const lost = await nextEvent(client, 'disconnected', () => true, 10_000);
    assert.equal(lost.code, HEARTBEAT_TIMEOUT_CODE);
    assert.equal(lost.willReconnect, true);
    await withTimeout(serverSawClose, 5000, 'server-side close');
    client.disconnect();
  });

  it('PixelSocket\'s heartbeatInterval is an explicit silence watchdog: it drops a quiet peer that never answered', async () => {
    const server = await startShapeServer();
    servers.push(server);
    const closes: number[] = [];
    const dropped = deferred<number>();
    const socket = new PixelSocket({
      url: server.url, saveImages: false, heartbeatInterval: 40, reconnectDelay: 60_000,
      onDisconnect: (code) => { closes.push(code); dropped.resolve(code); },
    });
    const connection = server.nextConnection();
    await socket.connect();
    await connection;
    assert.equal(await withTimeout(dropped.promise, 10_000, 'the watchdog'), HEARTBEAT_TIMEOUT_CODE);
    socket.disconnect();
  });

  it('keeps a connection whose peer answers', async () => {
    const server = await startShapeServer();
    servers.push(server);
    const clock = new FakeClock();
    const client = new WebSocketClient(server.url, async () => '', { heartbeatInterval: 1000, clock });
    const connection = server.nextConnection();
    await client.connect();
    const { ws } = await connection;
    ws.on('message', () => ws.send(JSON.stringify({ type: 'heartbeat.ack', payload: {}, timestamp: new Date().toISOString() })));
    const answers = new Inbox<unknown>();
    client.on('message', answers.push);
    for (let i = 1; i <= 5; i++) {
      await clock.advance(1000);
      await answers.next(i);
    }
    assert.equal(client.state, 'connected');
    client.disconnect();
  });
});

describe('token provider, ?since= and debug log', () => {
  const servers: ShapeServer[] = [];
  after(async () => { for (const s of servers) await s.close(); });

  it('asks for a fresh token on every attempt and offers the last event id as ?since=', async () => {
    let server = await startShapeServer();
    servers.push(server);
    const port = server.port;
    const clock = new FakeClock();
    let calls = 0;
    const lines: string[] = [];
    const client = new WebSocketClient(`${server.url}/ws`, async () => `secret-${++calls}`, {
      clock, heartbeatInterval: 0, reconnectPolicy: new ExponentialBackoff({ random: exact }), debug: (line) => lines.push(line),
    });
    client.on('error', () => {});
    const first = server.nextConnection();
    await client.connect();
    const { ws, url } = await first;
    assert.equal(url.searchParams.get('token'), 'secret-1');
    assert.equal(url.searchParams.has('since'), false);
    const got = nextEvent(client, 'system.notification');
    ws.send(JSON.stringify({ type: 'system.notification', payload: { severity: 'info', message: 'hi' }, timestamp: new Date().toISOString(), id: 41 }));
    await got;
    await server.kill();
    await nextEvent(client, 'disconnected');
    await clock.advance(1000); // refused: server is down
    await nextEvent(client, 'disconnected');
    server = await startShapeServer(port);
    servers.push(server);
    const second = server.nextConnection();
    await clock.advance(2000);
    const { url: url2 } = await second;
    assert.equal(url2.pathname, '/ws');
    assert.equal(url2.searchParams.get('token'), 'secret-3', 'one token per attempt, the refused one included');
    assert.equal(url2.searchParams.get('since'), '41');
    await nextEvent(client, 'connected');
    client.send({ type: 'custom.event', payload: { data: 'value' }, timestamp: new Date().toISOString() });
    client.disconnect();

    const log = lines.join('\n');
    for (const expected of ['state disconnected -> connecting', 'state connecting -> connected', 'reconnect attempt 1 in 1000 ms',
      'reconnect attempt 2 in 2000 ms', 'receive text', 'send text', 'state connected -> disconnecting']) {
      assert.ok(log.includes(expected), `debug log has "${expected}":\n${log}`);
    }
    assert.ok(!log.includes('secret-'), 'tokens never reach the log');
  });

  it('uses the configured token parameter name and skips an empty token', async () => {
    const server = await startShapeServer();
    servers.push(server);
    const named = new WebSocketClient(server.url, async () => 'abc', { tokenParam: 'access_token', heartbeatInterval: 0 });
    let connection = server.nextConnection();
    await named.connect();
    assert.equal((await connection).url.searchParams.get('access_token'), 'abc');
    named.disconnect();
    const empty = new WebSocketClient(server.url, async () => '', { heartbeatInterval: 0 });
    connection = server.nextConnection();
    await empty.connect();
    assert.equal((await connection).url.search, '');
    empty.disconnect();
  });
});
