import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { closed, nextBinary, nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { sniffImage } from '../src/image/sniff.js';

async function nextFrames(ws: WebSocket, n: number): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  while (frames.length < n) frames.push(await nextBinary(ws));
  return frames;
}

describe('WS /ws/video_feed (seeds/004 binary protocol)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      maxClients: 4,
      maxClientsPerIp: 4, // every test client is 127.0.0.1; the per-address share has its own test (hardening)
      pingInterval: 0.2,
      streams: {
        demo: { source: 'pattern', width: 320, height: 180, fps: 30 },
        big: { source: 'pattern', width: 1280, height: 720, fps: 30 },
      },
    });
  });
  after(() => s.close());

  it('sends one binary JPEG message per frame from the primary stream', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed`);
    const frames = await nextFrames(ws, 3);
    ws.close();
    for (const frame of frames) assert.deepEqual(sniffImage(frame), { format: 'jpeg', mimeType: 'image/jpeg', width: 320, height: 180 });
  });

  it('serves another stream with ?stream= and another format with ?format=', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=big&format=webp`);
    const [frame] = await nextFrames(ws, 1);
    ws.close();
    assert.deepEqual(sniffImage(frame!), { format: 'webp', mimeType: 'image/webp', width: 1280, height: 720 });
  });

  it('passes the source bytes through at the default quality (no re-encode)', async () => {
    const stream = s.server.hub.resolve('demo')!;
    const ws = await openSocket(`${s.ws}/ws/video_feed`);
    const [frame] = await nextFrames(ws, 1);
    ws.close();
    const encodesBefore = stream.variants.encodes;
    assert.ok(frame!.length > 0);
    const again = await openSocket(`${s.ws}/ws/video_feed`);
    await nextFrames(again, 3);
    again.close();
    assert.equal(stream.variants.encodes, encodesBefore, 'default-quality JPEG frames are the source bytes');
  });

  it('applies set_quality', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=big`);
    const [high] = await nextFrames(ws, 1);
    ws.send(JSON.stringify({ type: 'command', action: 'set_quality', value: 10 }));
    // The first frame after the command may have been in flight already; the next ones are small.
    const later = await nextFrames(ws, 3);
    ws.close();
    assert.ok(later.at(-1)!.length < high!.length * 0.8, `q10 ${later.at(-1)!.length} B vs q80 ${high!.length} B`);
  });

  it('applies config: resize and osd', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=big`);
    await nextFrames(ws, 1);
    ws.send(JSON.stringify({ type: 'config', quality: 70, osd: true, resize: { width: 640, height: 480 } }));
    let frame: Buffer;
    do frame = await nextBinary(ws);
    while (sniffImage(frame)?.width !== 640);
    assert.deepEqual(sniffImage(frame), { format: 'jpeg', mimeType: 'image/jpeg', width: 640, height: 360 });
    // The OSD label sits in the top-left corner on a black box, where the pattern has its dark bar.
    const corner = await sharp(frame).extract({ left: 8, top: 8, width: 200, height: 20 }).png().toBuffer();
    const { channels } = await sharp(corner).stats();
    assert.ok(channels[0]!.max > 200 && channels[0]!.min < 40, 'white text on black in the corner');
    ws.send(JSON.stringify({ type: 'config', resize: false, osd: false }));
    do frame = await nextBinary(ws);
    while (sniffImage(frame)?.width !== 1280);
    ws.close();
  });

  it('closes the connection over WS_MAX_CLIENTS with 1008 "Too many clients"', async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, () => openSocket(`${s.ws}/ws/video_feed`)));
    const extra = new WebSocket(`${s.ws}/ws/video_feed`);
    const { code, reason } = await closed(extra);
    assert.equal(code, 1008);
    assert.equal(reason, 'Too many clients');
    await nextBinary(clients[0]!);
    const left = clients.pop()!;
    const leaving = once(left, 'close');
    left.close();
    await leaving;
    // The server processes the close after the client saw it: retry until a slot is free.
    let admitted: WebSocket | undefined;
    for (let attempt = 0; attempt < 50 && !admitted; attempt++) {
      const ws = new WebSocket(`${s.ws}/ws/video_feed`);
      const result = await Promise.race([nextBinary(ws).then(() => ws), closed(ws).then(() => undefined)]);
      admitted = result;
    }
    assert.ok(admitted, 'a freed slot admits a new client');
    admitted.close();
    for (const ws of clients) ws.close();
  });

  it('pings clients and drops a peer that does not answer', async () => {
    // On /stream/demo: the heartbeat covers every route, and this one has no client limit.
    const alive = await openSocket(`${s.ws}/stream/demo`);
    let pings = 0;
    alive.on('ping', () => pings++);
    const dead = new WebSocket(`${s.ws}/stream/demo`, { autoPong: false });
    await once(dead, 'open');
    const { code } = await closed(dead);
    assert.equal(code, 1006, 'terminated without a close frame');
    assert.ok(pings >= 1, 'the live client was pinged');
    assert.equal(alive.readyState, WebSocket.OPEN, 'the live client answered and stays');
    alive.close();
  });

  it('answers bad commands with error messages and keeps streaming', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed`);
    const cases: [string, string][] = [
      ['not json', 'invalid_json'],
      ['{"type":"command","action":"set_quality","value":"max"}', 'invalid_options'],
      ['{"type":"command","action":"set_quality","value":101}', 'invalid_options'],
      ['{"type":"command","action":"self_destruct"}', 'unknown_command'],
      ['{"type":"config","osd":"yes"}', 'invalid_options'],
      ['{"type":"config","resize":true}', 'invalid_options'],
      ['{"type":"config","resize":[0,10]}', 'invalid_options'],
      ['{"type":"config","volume":11}', 'invalid_options'],
      ['{"type":"dance"}', 'unknown_command'],
      ['{}', 'invalid_message'],
    ];
    for (const [text, code] of cases) {
      ws.send(text);
      const error = await nextJson(ws, (m) => m.type === 'error');
      assert.equal(error.error.code, code, text);
    }
    await nextBinary(ws);
    ws.close();
  });

  it('refuses bad query strings and unknown streams with a message and close code', async () => {
    for (const [query, code, closeCode] of [
      ['?stream=missing', 'stream_not_found', 4404],
      ['?quality=0', 'invalid_query', 4400],
      ['?osd=maybe', 'invalid_query', 4400],
      ['?fps=61', 'invalid_query', 4400],
    ] as const) {
      const ws = new WebSocket(`${s.ws}/ws/video_feed${query}`);
      const error = nextJson(ws, (m) => m.type === 'error');
      const closing = closed(ws);
      assert.equal((await error).error.code, code, query);
      assert.equal((await closing).code, closeCode, query);
    }
  });

  it('lets a stalled client cost one frame while the others keep their rate', async () => {
    // A server with the default 30 s heartbeat: a stalled client cannot answer pings, and
    // this test is about what it costs before the heartbeat drops it.
    const server = await startServer({ maxClients: 10, streams: { big: { source: 'pattern', width: 1280, height: 720, fps: 30 } } });
    try {
      const stream = server.server.hub.resolve('big')!;
      const stalled = await openSocket(`${server.ws}/ws/video_feed?stream=big&quality=100`);
      await nextBinary(stalled);
      (stalled as unknown as { _socket: { pause(): void } })._socket.pause();
      const good = await openSocket(`${server.ws}/ws/video_feed?stream=big&quality=100`);
      // Read until the stalled client's socket buffers are full and its frames start dropping.
      let frames = 0;
      while (stream.stats().framesDropped === 0) {
        await nextBinary(good);
        assert.ok(++frames < 1200, 'the stalled client never started dropping frames');
      }
      const started = performance.now();
      await nextFrames(good, 60);
      const fps = 60 / ((performance.now() - started) / 1000);
      const dropped = stream.stats().framesDropped;
      const slots = stream.stats();
      good.close();
      stalled.terminate();
      assert.ok(fps >= 24, `the reading client kept its rate while the other was stalled (${fps.toFixed(1)} fps of 30)`);
      assert.ok(dropped >= 50, `every frame meant for the stalled client was dropped, not queued (${dropped})`);
      assert.ok(slots.framesOut > 60);
    } finally {
      await server.close();
    }
  });
});
