import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import { SignJWT } from 'jose';
import { closed, nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { JWT_SECRET, startGenServer, type GenServer } from './generations-helpers.js';
import { clientFrame, rawConnection, receivedText, upgradeRequest } from './raw-socket.js';
import { closeReason } from '../src/server/ws-close.js';
import { describe as describeValue } from '../src/protocols/values.js';

/**
 * Each crash issue 13 reproduced against main, as a test: the server runs in this process, so
 * a crash of the server ends the test run, and each test checks the server still serves after.
 */

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** A viewer of `/stream/demo` gets a frame: the server is alive and serving. */
async function stillServes(s: TestServer, token?: string): Promise<void> {
  const ws = await openSocket(`${s.ws}/stream/demo${token ? `?token=${token}` : ''}`);
  await nextJson(ws, (m) => m.type === 'frame');
  ws.close();
}

/** Upgrades a raw connection to `path`, then sends `frames` at once. */
async function upgradeThenSend(s: TestServer, path: string, frames: Buffer[], headers = '') {
  const connection = await rawConnection(s.port, upgradeRequest(path, headers));
  await receivedText(connection, '\r\n\r\n');
  assert.match(connection.received(), /^HTTP\/1\.1 101 /);
  for (const frame of frames) connection.socket.write(frame);
  await connection.ended;
  return connection;
}

describe('hostile input after a refusal', () => {
  let s: GenServer;
  before(async () => {
    s = await startGenServer({ maxClients: 1, maxClientsPerIp: 1 });
  });
  after(() => s.close());

  const refusals: [string, string][] = [
    ['an unknown stream (4404)', '/stream/does-not-exist'],
    ['a bad query (4400)', '/stream/demo?fps=0'],
    ['a bad producer token (4401)', '/ws/producer?token=wrong-token-123'],
  ];
  const garbage: [string, Buffer[]][] = [
    ['a 5 MB text message', [clientFrame(1, Buffer.alloc(64, 0x61), 5 * 1024 * 1024)]],
    ['invalid UTF-8', [clientFrame(1, Buffer.from([0xc3, 0x28, 0xff]))]],
    ['a reserved opcode', [clientFrame(3, Buffer.from('x'))]],
    ['a fragmented control frame', [clientFrame(9, Buffer.from('x'), 1, false)]],
  ];
  for (const [refusal, path] of refusals) {
    for (const [what, frames] of garbage) {
      it(`survives ${what} on a socket refused for ${refusal}`, async () => {
        await upgradeThenSend(s, path, frames);
        await stillServes(s);
      });
    }
  }

  it('survives a 5 MB message on a /ws/video_feed socket refused over WS_MAX_CLIENTS (1008)', async () => {
    const first = await openSocket(`${s.ws}/ws/video_feed?stream=demo`);
    await upgradeThenSend(s, '/ws/video_feed?stream=demo', [clientFrame(1, Buffer.alloc(64), 5 * 1024 * 1024)]);
    first.close();
    await stillServes(s);
  });
});

describe('deeply nested JSON', () => {
  let s: GenServer;
  before(async () => {
    s = await startGenServer();
  });
  after(() => s.close());

  it('describe() never throws and stays short, however deep the value', () => {
    let value: unknown = [];
    for (let i = 0; i < 100_000; i++) value = [value];
    assert.ok(describeValue(value).length <= 41);
    const hostile = { get x() { throw new Error('boom'); } };
    assert.equal(typeof describeValue(hostile), 'string');
    assert.equal(describeValue(10n), '10n');
  });

  it('answers a Socket.IO subscribe nested 5000 deep with an error event', async () => {
    // Raw engine.io packets: a client library would refuse to encode this.
    const ws = new WebSocket(`${s.ws}/socket.io/?EIO=4&transport=websocket`);
    const packets: string[] = [];
    // Listening before 'open': the open packet may come in the same read as the 101.
    ws.on('message', (data) => packets.push(data.toString()));
    await once(ws, 'open');
    const packet = async (prefix: string) => {
      while (!packets.some((p) => p.startsWith(prefix))) await once(ws, 'message');
      return packets.splice(packets.findIndex((p) => p.startsWith(prefix)), 1)[0]!;
    };
    await packet('0{');
    ws.send('40');
    await packet('40');
    ws.send(`42["subscribe",${deepArray(5000)}]`);
    const answer = JSON.parse((await packet('42')).slice(2));
    assert.equal(answer[0], 'error');
    assert.match(answer[1].message, /subscribe needs/);
    ws.close();
    await stillServes(s);
  });

  for (const path of ['/ws', '/ws/streaming', '/stream/demo']) {
    it(`answers JSON nested 5000 deep on ${path} with invalid_json`, async () => {
      const ws = await openSocket(`${s.ws}${path}`);
      const answer = nextJson(ws, (m) => m.type === 'error' || m.type === 'system.error');
      ws.send(`{"type":${deepArray(5000)}}`);
      const message = await answer;
      assert.match(JSON.stringify(message), /invalid_json/);
      ws.close();
    });
  }

  it('answers JSON nested 5000 deep on /ws/producer with an error', async () => {
    const ws = await openSocket(`${s.ws}/ws/producer?token=test-producer-token-0123`);
    const answer = nextJson(ws, (m) => m.type === 'error');
    ws.send(`{"type":"job.create","prompt":${deepArray(5000)}}`);
    assert.equal((await answer).error, 'invalid_json');
    ws.close();
  });

  it('answers REST bodies nested 6000 deep with 400, not 500', async () => {
    const body = `{"session_id":${deepArray(6000)}}`;
    const post = (path: string, headers: Record<string, string> = {}) =>
      fetch(s.http + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    assert.equal((await post('/api/session/create')).status, 400);
    assert.equal((await post('/api/session/nope/load')).status, 400);
    const publish = await post('/api/generations', { authorization: 'Bearer test-producer-token-0123' });
    assert.equal(publish.status, 400);
    await stillServes(s);
  });

  it('answers a JSON null session body 400 and long path ids their route\'s own 404', async () => {
    const created = await fetch(`${s.http}/api/session/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'null' });
    assert.equal(created.status, 400);
    const text = await fetch(`${s.http}/api/session/create`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    assert.equal(text.status, 415);
    const long = 'x'.repeat(2000);
    const image = await fetch(`${s.http}/images/${long}`);
    assert.equal(image.status, 404);
    assert.equal((await image.json()).error, 'image_not_found');
    assert.equal((await fetch(`${s.http}/api/session/${long}/frame`)).status, 404);
  });

  it('answers multipart uploads with a missing or wrong boundary with a 4xx', async () => {
    const { job_id: jobId } = (await s.api('POST', '/api/generations', { prompt: 'p' })).json;
    for (const type of ['multipart/form-data', 'multipart/form-data; boundary=nothere']) {
      const response = await fetch(`${s.http}/api/generations/${jobId}/images`, {
        method: 'POST',
        headers: { authorization: 'Bearer test-producer-token-0123', 'content-type': type },
        body: '--other\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\n\r\nxx\r\n--other--\r\n',
      });
      assert.ok(response.status >= 400 && response.status < 500, `${type}: ${response.status}`);
    }
  });
});

describe('close reasons', () => {
  it('cuts a reason at 123 bytes on a character boundary', () => {
    assert.equal(closeReason('short'), 'short');
    const cut = closeReason('ä'.repeat(100));
    assert.ok(Buffer.byteLength(cut) <= 123);
    assert.ok(!cut.includes('\ufffd'));
  });

  let s: GenServer;
  before(async () => {
    s = await startGenServer({ jwtSecret: JWT_SECRET, accessTokens: `${VIEW_TOKEN}=view` });
  });
  after(() => s.close());
  const VIEW_TOKEN = 'hardening-view-token-0123';

  it('refuses a token whose crit header names a long non-ASCII parameter with 4401', async () => {
    const name = 'ü'.repeat(60);
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = `${b64({ alg: 'HS256', typ: 'JWT', crit: [name], [name]: 1 })}.${b64({ sub: 'u' })}.c2lnbmF0dXJl`;
    const ws = new WebSocket(`${s.ws}/ws?token=${token}`);
    ws.on('error', () => {});
    const { code, reason } = await closed(ws);
    assert.equal(code, 4401);
    assert.ok(Buffer.byteLength(reason) <= 123);
    await stillServes(s, VIEW_TOKEN);
  });

  it('answers a message sent at open while the token is being checked', async () => {
    const token = await new SignJWT({ scope: 'view' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
    const ws = new WebSocket(`${s.ws}/ws?token=${token}`);
    const pong = nextJson(ws, (m) => m.type === 'pong');
    ws.on('open', () => ws.send('{"type":"ping"}'));
    await pong;
    ws.close();
  });

  it('calls a token whose exp is not a number token_invalid', async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = await new SignJWT({ exp: 'soon' } as never).setProtectedHeader({ alg: 'HS256' }).setSubject('u').sign(new TextEncoder().encode(JWT_SECRET)).catch(() => `${b64({ alg: 'HS256' })}.${b64({ exp: 'soon' })}.x`);
    const ws = new WebSocket(`${s.ws}/ws?token=${token}`);
    const error = nextJson(ws, (m) => m.type === 'error' || m.type === 'system.error');
    const message = await error;
    assert.equal(message.payload.code, 'token_invalid');
    assert.equal((await closed(ws)).code, 4401);
  });

  it('refuses a non-ASCII ?since= on /ws with 4400, not 1011', async () => {
    const ws = new WebSocket(`${s.ws}/ws?since=${encodeURIComponent('ü'.repeat(60))}`);
    const { code } = await closed(ws);
    assert.equal(code, 4400);
  });
});

describe('upgrade paths', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('answers an upgrade to /ws/../socket.io/ with 400 at once', async () => {
    const connection = await rawConnection(s.port, upgradeRequest('/ws/../socket.io/?EIO=4&transport=websocket'));
    await connection.ended;
    assert.match(connection.received(), /^HTTP\/1\.1 400 /);
  });

  it('gives /socket.io/../ws/streaming exactly one answer, and not a 101', async () => {
    const connection = await rawConnection(s.port, upgradeRequest('/socket.io/../ws/streaming'));
    await connection.ended;
    const answers = connection.received().match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.equal(answers.length, 1, connection.received());
    assert.doesNotMatch(answers[0]!, /101/);
  });

  for (const path of ['/ws/./streaming', '/ws/%2e%2e/ws', '/stream/%E0%A4%A', '/nothing/here']) {
    it(`answers ${path} with 400 or 404 and closes`, async () => {
      const connection = await rawConnection(s.port, upgradeRequest(path));
      await connection.ended;
      assert.match(connection.received(), /^HTTP\/1\.1 40[04] /);
    });
  }

  it('drops a handshake whose headers do not finish in 10 s', { timeout: 30_000 }, async () => {
    const connection = await rawConnection(s.port, 'GET /stream/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    const started = Date.now();
    await connection.ended;
    const waited = Date.now() - started;
    assert.ok(waited >= 9_000 && waited < 20_000, `dropped after ${waited} ms`);
  });
});

describe('connection caps', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ maxConnectionsPerIp: 3, maxClients: 4 });
  });
  after(() => s.close());

  const openFrom = async (path: string, localAddress: string) => {
    const ws = new WebSocket(`${s.ws}${path}`, { localAddress });
    await once(ws, 'open');
    return ws;
  };

  it('refuses the connection past the per-address cap on any route with 1013, and not another address', async () => {
    const held = [await openFrom('/ws/streaming', '127.0.0.5'), await openFrom('/stream/demo', '127.0.0.5'), await openFrom('/ws', '127.0.0.5')];
    const { code, reason } = await closed(await openFrom('/stream/demo', '127.0.0.5'));
    assert.equal(code, 1013);
    assert.match(reason, /too many connections from your address/);
    const other = await openFrom('/stream/demo', '127.0.0.6');
    await nextJson(other, (m) => m.type === 'frame');
    other.close();
    const leaving = once(held[0]!, 'close');
    held[0]!.close();
    await leaving;
    // The server handles the close after the client saw it: the slot is free once a new one opens.
    let again: WebSocket;
    for (;;) {
      again = await openFrom('/stream/demo', '127.0.0.5');
      const first = await Promise.race([nextJson(again, (m) => m.type === 'frame').then(() => 'frame'), closed(again).then(() => 'closed')]);
      if (first === 'frame') break;
    }
    again.close();
    for (const ws of held.slice(1)) ws.close();
  });

  it('counts Socket.IO connections against the same cap', async () => {
    const held = [await openFrom('/stream/demo', '127.0.0.1'), await openFrom('/stream/demo', '127.0.0.1'), await openFrom('/stream/demo', '127.0.0.1')];
    // A polling handshake is answered 403 with the reason; a refused upgrade cannot carry one.
    const handshake = await fetch(`${s.http}/socket.io/?EIO=4&transport=polling`);
    assert.equal(handshake.status, 403);
    assert.match(await handshake.text(), /too many connections from your address/);
    for (const transports of [['polling'], ['websocket']]) {
      const socket: IoSocket = ioClient(s.http, { transports, reconnection: false });
      socket.on('connect', () => assert.fail(`connected over ${transports[0]} past the cap`));
      await new Promise((resolve) => socket.once('connect_error', resolve));
      socket.close();
    }
    for (const ws of held) ws.close();
  });

  it('lets one address hold only half of WS_MAX_CLIENTS on /ws/video_feed', async () => {
    const mine = [await openFrom('/ws/video_feed?stream=demo', '127.0.0.3'), await openFrom('/ws/video_feed?stream=demo', '127.0.0.3')];
    const refused = await closed(await openFrom('/ws/video_feed?stream=demo', '127.0.0.3'));
    assert.deepEqual(refused, { code: 1008, reason: 'Too many clients' });
    const other = await openFrom('/ws/video_feed?stream=demo', '127.0.0.4');
    await once(other, 'message');
    other.close();
    for (const ws of mine) ws.close();
  });
});

describe('variants per stream', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('serves PNG viewers at different qualities from one variant', async () => {
    const viewers = await Promise.all([10, 11, 12, 13, 14, 15].map((q) => openSocket(`${s.ws}/stream/demo?format=png&quality=${q}`)));
    await Promise.all(viewers.map((ws) => nextJson(ws, (m) => m.type === 'frame')));
    assert.equal(s.server.hub.resolve('demo')!.variants.claimedSpecs, 1);
    for (const ws of viewers) ws.close();
  });

  it('refuses a 17th distinct variant with too_many_variants, and a command past the bound changes nothing', async () => {
    const viewers = await Promise.all(Array.from({ length: 16 }, (_, i) => openSocket(`${s.ws}/stream/demo?quality=${20 + i}`)));
    const refusedWs = new WebSocket(`${s.ws}/stream/demo?quality=90`);
    const error = nextJson(refusedWs, (m) => m.type === 'error');
    const { code } = await closed(refusedWs);
    assert.equal(code, 1013);
    assert.equal((await error).error.code, 'too_many_variants');
    const answer = nextJson(viewers[0]!, (m) => m.type === 'error');
    viewers[0]!.send(JSON.stringify({ command: 'update_options', options: { quality: 91 } }));
    assert.equal((await answer).error.code, 'too_many_variants');
    const stats = await nextJson(viewers[0]!, (m) => m.type === 'stats');
    assert.equal(stats.data.quality, 20);
    for (const ws of viewers) ws.close();
  });
});
