import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CloseCode, ExponentialBackoff, FINAL_CLOSE_CODES, ReconnectingSocket, StopOnCloseCodes, StreamClient, parseDataUrl, parseStreamMessage,
  type CloseInfo,
} from '../src/client/index.js';
import { sniffImage } from '../src/image/sniff.js';
import { startServer, type TestServer } from './helpers.js';
import { startShapeServer } from './client-helpers.js';
import { nextEvent, withTimeout } from './wait.js';

/** The seeds/002 stream client against a real framehub, and the close-code-aware policy. */

describe('StopOnCloseCodes', () => {
  it('gives up on a final close code and asks the wrapped policy otherwise', () => {
    const seen: Array<[number, CloseInfo | undefined]> = [];
    const policy = new StopOnCloseCodes({ nextDelay: (attempt, close) => { seen.push([attempt, close]); return 7; } });
    assert.equal(policy.nextDelay(1, { code: CloseCode.Unauthorized, reason: 'expired' }), null);
    assert.equal(policy.nextDelay(1, { code: CloseCode.NotFound, reason: '' }), null);
    assert.equal(policy.nextDelay(2, { code: 1006, reason: '' }), 7);
    assert.equal(policy.nextDelay(3), 7);
    assert.deepEqual(seen, [[2, { code: 1006, reason: '' }], [3, undefined]]);
    for (const code of FINAL_CLOSE_CODES) assert.equal(policy.nextDelay(1, { code, reason: '' }), null, String(code));
    assert.equal(new StopOnCloseCodes(undefined, [1013]).nextDelay(1, { code: 1013, reason: '' }), null);
  });

  it('ReconnectingSocket shows the policy the close code: a 4401 from a real server ends the retries', async () => {
    const server = await startShapeServer();
    after(() => server.close());
    server.wss.on('connection', (ws) => ws.close(CloseCode.Unauthorized, 'token expired'));
    const closes: CloseInfo[] = [];
    const socket = new ReconnectingSocket({
      url: server.url,
      policy: new StopOnCloseCodes({ nextDelay: (_attempt, close) => { if (close) closes.push(close); return 10; } }),
    });
    socket.on('error', () => {});
    const failed = nextEvent(socket, 'reconnect:failed');
    const closed = nextEvent(socket, 'close');
    // The server accepts the upgrade, then closes: connect() resolves, the close ends it all.
    await socket.connect();
    assert.deepEqual(await closed, { code: 4401, reason: 'token expired', willReconnect: false });
    await failed;
    assert.deepEqual(closes, [], 'the wrapped policy was never asked: 4401 stopped it first');
    assert.equal(socket.state, 'disconnected');
  });
});

describe('StreamClient (seeds/002) against framehub', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.close(); });

  it('receives typed frames and stats, and its commands change what the server sends', async () => {
    const client = new StreamClient({ url: server.http, stream: 'demo', fps: 20, quality: 70, format: 'png' });
    after(() => client.disconnect());
    const errors: Error[] = [];
    client.on('error', ({ error }) => errors.push(error));
    const firstFrame = nextEvent(client, 'frame');
    await client.connect();
    const { frame, bytes, receivedAt } = await firstFrame;
    assert.equal(frame.format, 'png');
    assert.deepEqual([frame.width, frame.height], [320, 180]);
    assert.ok(bytes > frame.size, 'bytes counts the whole message');
    assert.ok(Math.abs(receivedAt - Date.now()) < 5000);
    const image = parseDataUrl(frame.data_url)!;
    assert.equal(image.mimeType, 'image/png');
    assert.equal(sniffImage(image.bytes)?.format, 'png');
    assert.equal(image.bytes.length, frame.size);

    const { stats } = await nextEvent(client, 'stats');
    assert.deepEqual([stats.stream, stats.fps, stats.quality, stats.format], ['demo', 20, 70, 'png']);

    assert.equal(client.updateOptions({ format: 'webp', fps: 5 }), true);
    assert.deepEqual(client.options, { fps: 5, quality: 70, format: 'webp' });
    await nextEvent(client, 'stats', ({ stats: s }) => s.format === 'webp' && s.fps === 5);
    await nextEvent(client, 'frame', ({ frame: f }) => f.format === 'webp');

    assert.equal(client.takeScreenshot(), true);
    const shot = await nextEvent(client, 'screenshot');
    assert.equal(shot.frame.format, 'webp');
    assert.deepEqual(errors, []);
  });

  it('reports the server error for an unknown stream and does not retry (4404 is final)', async () => {
    const client = new StreamClient({ url: server.ws, stream: 'no-such-stream' });
    client.on('error', () => {});
    const serverError = nextEvent(client, 'server-error');
    const closed = nextEvent(client, 'close');
    const failed = nextEvent(client, 'reconnect:failed');
    await client.connect();
    assert.equal((await serverError).code, 'stream_not_found');
    const close = await closed;
    assert.equal(close.code, CloseCode.NotFound);
    assert.equal(close.willReconnect, false);
    await failed;
    assert.equal(client.state, 'disconnected');
  });

  it('reconnects after a lost connection and asks again for the options changed since the first connect', async () => {
    const shape = await startShapeServer();
    after(() => shape.close());
    const client = new StreamClient({
      url: shape.url, stream: 'cam 1', fps: 10, reconnectPolicy: new ExponentialBackoff({ initialDelay: 20, jitter: 0 }),
    });
    after(() => client.disconnect());
    client.on('error', () => {});
    const first = shape.nextConnection();
    await client.connect();
    const { ws, url } = await first;
    assert.equal(url.pathname, '/stream/cam%201');
    assert.deepEqual(Object.fromEntries(url.searchParams), { fps: '10', quality: '80', format: 'jpeg' });
    const update = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
    assert.equal(client.updateOptions({ quality: 40 }), true);
    assert.deepEqual(JSON.parse(await update), { command: 'update_options', options: { quality: 40 } });

    const second = shape.nextConnection();
    ws.terminate();
    const again = await second;
    const resent = await new Promise<string>((resolve) => again.ws.once('message', (data) => resolve(data.toString())));
    assert.deepEqual(Object.fromEntries(again.url.searchParams), { fps: '10', quality: '80', format: 'jpeg' });
    assert.deepEqual(JSON.parse(resent), { command: 'update_options', options: { quality: 40 } });
  });

  it('parseStreamMessage: unknown types are ignored, garbage is an error', () => {
    assert.equal(parseStreamMessage('{"type":"something-new"}'), undefined);
    assert.ok(parseStreamMessage('not json') instanceof SyntaxError);
    assert.ok(parseStreamMessage(new Uint8Array(3)) instanceof Error);
    assert.ok(parseStreamMessage('{"type":"frame","data":{}}') instanceof Error);
    assert.deepEqual(parseStreamMessage('{"type":"error","error":{"code":"x","message":"y"}}'), { type: 'error', error: { code: 'x', message: 'y' } });
  });
});
