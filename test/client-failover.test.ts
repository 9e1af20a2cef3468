import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import {
  CloseCode, ExponentialBackoff, FixedDelay, PixelSocket, ReconnectingSocket, StopOnCloseCodes, StreamClient, WebSocketClient,
  type ImageMetadata, type SocketEvents,
} from '../src/client/index.js';
import { startServer, type TestServer } from './helpers.js';
import { deferred, startShapeServer, Inbox, type ShapeServer } from './client-helpers.js';
import { numberedPng, startGenServer, type GenServer } from './generations-helpers.js';
import { STABLE_CONNECTION_MS } from '../src/client/reconnecting-socket.js';
import { FakeClock } from './fake-clock.js';
import { listenLocal } from './listen-local.js';
import { nextEvent, withTimeout } from './wait.js';

/**
 * The client library given several server URLs (issue 17 point 5): it starts at the first,
 * moves to the next at once when one refuses or is lost, resumes with `?since=` on whichever
 * node it lands, and still stops on a final close code. Real framehub servers on 127.0.0.1.
 */

/** Long enough that a test passing within its bounded waits cannot have waited for it. */
const LONG = 60_000;

/** A port nothing listens on: a net server is opened on port 0 and closed again. */
async function refusedUrl(): Promise<string> {
  const probe = createNetServer();
  const port = await listenLocal(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `ws://127.0.0.1:${port}`;
}

const portOf = (url: string): string => new URL(url).port;

describe('client failover across several URLs', { timeout: 60_000 }, () => {
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  async function framehub(): Promise<TestServer> {
    const server = await startServer();
    cleanups.push(() => server.close());
    return server;
  }
  async function genServer(): Promise<GenServer> {
    const server = await startGenServer();
    cleanups.push(() => server.close());
    return server;
  }
  async function shape(): Promise<ShapeServer> {
    const server = await startShapeServer();
    cleanups.push(() => server.close());
    return server;
  }

  it('the first URL refuses connections: the client connects to the second without waiting the backoff', async () => {
    const dead = await refusedUrl();
    const b = await framehub();
    // A 60 s fixed delay: only an immediate move to the next URL connects within the wait.
    const client = new StreamClient({ url: [dead, b.http], stream: 'demo', reconnectPolicy: new FixedDelay({ delay: LONG, maxAttempts: 3 }) });
    cleanups.push(() => client.disconnect());
    client.on('error', () => {}); // the refused attempt reports a connection error, as expected
    const reconnecting = new Inbox<SocketEvents['reconnecting']>();
    client.on('reconnecting', reconnecting.push);
    const opened = nextEvent(client, 'open', undefined, 10_000);
    const frame = nextEvent(client, 'frame', undefined, 10_000);
    await client.connect();
    const { url } = await opened;
    assert.equal(portOf(url), String(b.port), 'connected to the second URL');
    assert.match(url, /\/stream\/demo\?/);
    assert.deepEqual(reconnecting.items.map((r) => [r.attempt, r.delay]), [[1, 0]], 'one attempt moved on at once');
    const { frame: first } = await frame;
    assert.deepEqual([first.width, first.height], [320, 180]);
  });

  it('PixelSocket: a refused first URL, then images from the second at once (reconnectDelay 60 s)', async () => {
    const dead = await refusedUrl();
    const b = await framehub();
    const image = deferred<ImageMetadata | undefined>();
    const client = new PixelSocket({
      url: [`${dead}/ws/video_feed?stream=demo`, `${b.ws}/ws/video_feed?stream=demo`],
      saveImages: false,
      reconnectDelay: LONG,
      onImage: (_bytes, metadata) => image.resolve(metadata),
      onError: () => {}, // the refused attempt, as expected
    });
    cleanups.push(() => client.disconnect());
    await withTimeout(client.connect(), 10_000, 'PixelSocket connect');
    const metadata = await withTimeout(image.promise, 10_000, 'an image');
    assert.equal(metadata?.format, 'jpeg');
    assert.deepEqual([metadata?.width, metadata?.height], [320, 180]);
  });

  it('connected to A, A closes: the client moves to B at once and frames flow again', async () => {
    const a = await framehub();
    const b = await framehub();
    const client = new StreamClient({ url: [a.ws, b.ws], stream: 'demo', reconnectPolicy: new StopOnCloseCodes(new FixedDelay({ delay: LONG })) });
    cleanups.push(() => client.disconnect());
    client.on('error', () => {});
    const openedA = nextEvent(client, 'open', undefined, 10_000);
    await client.connect();
    assert.equal(portOf((await openedA).url), String(a.port), 'starts at the first URL');
    await nextEvent(client, 'frame', undefined, 10_000);

    const openedB = nextEvent(client, 'open', undefined, 10_000);
    const reconnecting = nextEvent(client, 'reconnecting', undefined, 10_000);
    await a.close();
    assert.equal((await reconnecting).delay, 0, 'a lost node costs no wait when another is listed');
    assert.equal(portOf((await openedB).url), String(b.port));
    const after = await nextEvent(client, 'frame', undefined, 10_000);
    assert.deepEqual([after.frame.width, after.frame.height], [320, 180]);
    assert.equal(client.state, 'connected');
  });

  it('generation events: A closes, the client moves to B with ?since= and the token, and events flow on B', async () => {
    const a = await genServer();
    const b = await genServer();
    // B's URL goes through a recording server first, so the test sees what B's route received.
    const recorder = await shape();
    let tokens = 0;
    const client = new WebSocketClient([`${a.ws}/ws`, `${recorder.url}/ws`, `${b.ws}/ws`], async () => `t${++tokens}`, {
      heartbeatInterval: 0, reconnectPolicy: new FixedDelay({ delay: LONG, maxAttempts: 10 }),
    });
    cleanups.push(() => client.disconnect());
    client.on('error', () => {});
    await client.connect();
    const { json: job } = await a.api('POST', '/api/generations', { prompt: 'on node A' }) as { json: { job_id: string } };
    const completedOnA = nextEvent(client, 'image.generation.completed', undefined, 10_000);
    assert.equal((await a.publishImage(job.job_id, await numberedPng(1))).status, 201);
    const seenOnA = await completedOnA as { id?: unknown };
    assert.ok(seenOnA.id !== undefined, 'framehub events carry an id');

    // A goes away; the next URL is the recorder: it must be asked with the last id and a token.
    const recorded = recorder.nextConnection(10_000);
    await a.close();
    const { ws, url } = await recorded;
    assert.equal(url.pathname, '/ws');
    assert.equal(url.searchParams.get('since'), String(seenOnA.id), '?since= carries the last event id to the next node');
    assert.match(url.searchParams.get('token') ?? '', /^t\d+$/, 'a fresh token on the next node');

    // The recorder drops the connection too: on to B, where events flow again.
    const connectedB = nextEvent(client, 'connected', undefined, 10_000);
    ws.terminate();
    const { url: urlB } = await connectedB;
    assert.equal(portOf(urlB), String(b.port), '`connected` names the node');
    assert.match(urlB, /[?&]token=\*\*\*(&|$)/, 'with the token redacted');
    const { json: jobB } = await b.api('POST', '/api/generations', { prompt: 'on node B' }) as { json: { job_id: string } };
    const completedOnB = nextEvent(client, 'image.generation.completed', (e) => e.payload.job_id === jobB.job_id, 10_000);
    assert.equal((await b.publishImage(jobB.job_id, await numberedPng(2))).status, 201);
    await completedOnB;
    assert.equal(client.state, 'connected');
  });

  it('a 4401 from a node stops, as with one URL: the next node is not tried', async () => {
    const refusing = await shape();
    refusing.wss.on('connection', (ws) => ws.close(CloseCode.Unauthorized, 'token refused'));
    const other = await shape();
    let otherConnections = 0;
    other.wss.on('connection', () => { otherConnections++; });
    const socket = new ReconnectingSocket({ url: [refusing.url, other.url], policy: new StopOnCloseCodes(new FixedDelay({ delay: 10 })) });
    cleanups.push(() => socket.disconnect());
    socket.on('error', () => {});
    const closed = nextEvent(socket, 'close', undefined, 10_000);
    const failed = nextEvent(socket, 'reconnect:failed', undefined, 10_000);
    await socket.connect();
    assert.deepEqual(await closed, { code: 4401, reason: 'token refused', willReconnect: false });
    await failed;
    // The policy said stop, so no retry is scheduled at all: the other node cannot be reached later.
    assert.equal(socket.state, 'disconnected');
    assert.equal(otherConnections, 0, 'the other node was never tried');
  });

  it('a connection that lasted ends the run of failures (A, B, A again, each at once); one closed at once continues it', async () => {
    const a = await shape();
    const b = await shape();
    const clock = new FakeClock();
    const socket = new ReconnectingSocket({ url: [a.url, b.url], clock, policy: new FixedDelay({ delay: LONG }) });
    cleanups.push(() => socket.disconnect());
    socket.on('error', () => {});
    const opens = new Inbox<SocketEvents['open']>();
    socket.on('open', opens.push);
    /** The server ends the connection with a code no policy stops on; resolves with the delay scheduled. */
    const serverCloses = async (connection: Promise<{ ws: { close(code: number, reason: string): void } }>) => {
      const scheduled = nextEvent(socket, 'reconnecting', undefined, 10_000);
      (await connection).ws.close(1012, 'restart');
      return (await scheduled).delay;
    };
    /** Fires the retry timer (`delay` ms of fake time) and waits for the `n`th open. */
    const reopens = async (delay: number, n: number) => {
      await clock.advance(delay);
      await opens.next(n, 10_000, `open ${n}`);
    };

    const a1 = a.nextConnection(10_000);
    await socket.connect();
    await clock.advance(STABLE_CONNECTION_MS);
    const b1 = b.nextConnection(10_000);
    assert.equal(await serverCloses(a1), 0, 'A lasted: B at once');
    await reopens(0, 2);
    await clock.advance(STABLE_CONNECTION_MS);
    const a2 = a.nextConnection(10_000);
    // Without the reset, A would count as the second failure in a row and wait the 60 s delay.
    assert.equal(await serverCloses(b1), 0, 'B lasted too: A again at once');
    await reopens(0, 3);
    // A now closes as soon as it opened: it continues B's run, so every URL failed in a row and
    // the policy's delay applies (two such nodes cannot make a tight reconnect loop).
    const b2 = b.nextConnection(10_000);
    assert.equal(await serverCloses(a2), LONG, 'a connection closed at once counts as a failure');
    await reopens(LONG, 4);
    await b2;
    assert.deepEqual(opens.items.map((o) => portOf(o.url)), [a.port, b.port, a.port, b.port].map(String));
  });

  it('once every URL failed in a row, each further attempt waits the policy delay, and the error names every URL', async () => {
    const deadA = await refusedUrl();
    const deadB = await refusedUrl();
    const clock = new FakeClock();
    const socket = new ReconnectingSocket({ url: [deadA, deadB], clock, policy: new ExponentialBackoff({ random: () => 0.5, maxAttempts: 3 }) });
    cleanups.push(() => socket.disconnect());
    socket.on('error', () => {});
    const reconnecting = new Inbox<SocketEvents['reconnecting']>();
    socket.on('reconnecting', reconnecting.push);
    const rejected = assert.rejects(socket.connect(), (error: Error) => {
      // Both URLs are named: the user sees the whole list was tried.
      assert.match(error.message, new RegExp(`could not connect to ${deadA}/, ${deadB}/ after 3 reconnect attempt`));
      return true;
    });
    await reconnecting.next(1, 10_000, 'attempt 1 scheduled');
    await clock.advance(0);
    await reconnecting.next(2, 10_000, 'attempt 2 scheduled');
    await clock.advance(2000);
    await reconnecting.next(3, 10_000, 'attempt 3 scheduled');
    await clock.advance(4000);
    await rejected;
    // Attempt 1 went to B at once; A and B had both failed before attempts 2 and 3: backoff.
    assert.deepEqual(reconnecting.items.map((r) => [r.attempt, r.delay]), [[1, 0], [2, 2000], [3, 4000]]);
  });

  it('refuses an unusable url list with a TypeError', async () => {
    const good = 'ws://127.0.0.1:1/';
    for (const url of [[], [''], ['ftp://127.0.0.1:1/'], [good, 'not a url'], [good, 42]] as unknown as string[][]) {
      assert.throws(() => new ReconnectingSocket({ url }), TypeError, JSON.stringify(url));
      assert.throws(() => new PixelSocket({ url, saveImages: false }), TypeError, JSON.stringify(url));
      assert.throws(() => new WebSocketClient(url, async () => ''), TypeError, JSON.stringify(url));
    }
    assert.throws(() => new ReconnectingSocket({ url: 'ftp://127.0.0.1/' }), /url must be a ws:\/\/ or wss:\/\/ URL \(got "ftp:\/\/127\.0\.0\.1\/"\)/);
    // StreamClient takes http(s) as ws(s), in a list too; anything else is refused.
    for (const url of [[], [''], ['ftp://127.0.0.1/'], [good, 'not a url']]) {
      assert.throws(() => new StreamClient({ url }), TypeError, JSON.stringify(url));
    }
    assert.doesNotThrow(() => new StreamClient({ url: ['http://127.0.0.1:1', 'wss://example.test'] }));
    // The other clients take http(s) as ws(s) too, as they did before they took lists.
    assert.doesNotThrow(() => new ReconnectingSocket({ url: ['http://127.0.0.1:1/', 'https://example.test/'] }));
  });
});
