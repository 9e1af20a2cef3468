import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { closed, collectJson, nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { sniffImage } from '../src/image/sniff.js';

function decodeDataUrl(url: string): { mime: string; bytes: Buffer } {
  const match = /^data:(image\/[a-z]+);base64,(.+)$/.exec(url);
  assert.ok(match, 'a base64 data URL');
  return { mime: match[1]!, bytes: Buffer.from(match[2]!, 'base64') };
}

describe('WS /stream/:id (seeds/002 JSON protocol)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ maxPayload: 1024 });
  });
  after(() => s.close());

  it('sends frames with every field of seeds/002, the image matching them', async () => {
    const ws = await openSocket(`${s.ws}/stream/demo?fps=15&quality=85&format=jpeg`);
    const message = await nextJson(ws, (m) => m.type === 'frame');
    ws.close();
    assert.deepEqual(Object.keys(message.data).sort(), ['data_url', 'format', 'frame_number', 'height', 'size', 'timestamp', 'width']);
    const { mime, bytes } = decodeDataUrl(message.data.data_url);
    assert.equal(mime, 'image/jpeg');
    assert.equal(message.data.format, 'jpeg');
    assert.equal(message.data.size, bytes.length);
    assert.deepEqual(sniffImage(bytes), { format: 'jpeg', mimeType: 'image/jpeg', width: message.data.width, height: message.data.height });
    assert.equal(message.data.width, 320);
    assert.ok(Number.isInteger(message.data.frame_number) && message.data.frame_number >= 1);
    assert.ok(Math.abs(Date.now() - message.data.timestamp) < 10_000, 'timestamp is ms since the epoch');
  });

  it('serves the primary stream as id 0', async () => {
    const ws = await openSocket(`${s.ws}/stream/0`);
    await nextJson(ws, (m) => m.type === 'frame');
    const stats = await nextJson(ws, (m) => m.type === 'stats');
    ws.close();
    assert.equal(stats.data.stream, 'demo');
  });

  it('sends stats every second with the options in force', async () => {
    const ws = await openSocket(`${s.ws}/stream/demo?fps=5&quality=40&format=png`);
    const [first, second] = await collectJson(ws, 2, (m) => m.type === 'stats');
    ws.close();
    assert.equal(first.data.fps, 5);
    assert.equal(first.data.quality, 40);
    assert.equal(first.data.format, 'png');
    assert.ok(second.data.connected_for >= first.data.connected_for);
    for (const key of ['actual_fps', 'source_fps', 'frames_sent', 'frames_dropped', 'frames_skipped', 'bytes_sent', 'subscribers']) {
      assert.equal(typeof second.data[key], 'number', key);
    }
    assert.ok(second.data.frames_sent >= 1);
  });

  it('applies update_options: format, quality and fps take effect', async () => {
    const ws = await openSocket(`${s.ws}/stream/demo?fps=30&quality=90&format=jpeg`);
    const before = await nextJson(ws, (m) => m.type === 'frame');
    ws.send(JSON.stringify({ command: 'update_options', options: { format: 'png' } }));
    const png = await nextJson(ws, (m) => m.type === 'frame' && m.data.format === 'png');
    assert.equal(decodeDataUrl(png.data.data_url).mime, 'image/png');
    assert.equal(sniffImage(decodeDataUrl(png.data.data_url).bytes)?.format, 'png');
    ws.send(JSON.stringify({ command: 'update_options', options: { format: 'jpeg', quality: 10 } }));
    const low = await nextJson(ws, (m) => m.type === 'frame' && m.data.format === 'jpeg' && m.data.frame_number > png.data.frame_number);
    assert.ok(low.data.size < before.data.size * 0.7, `quality 10 (${low.data.size} B) is much smaller than 90 (${before.data.size} B)`);
    ws.send(JSON.stringify({ command: 'update_options', options: { fps: 2 } }));
    const stats = await nextJson(ws, (m) => m.type === 'stats' && m.data.fps === 2);
    assert.equal(stats.data.fps, 2);
    // Over the next full second at most the cap (plus one frame already in flight).
    const next = await nextJson(ws, (m) => m.type === 'stats');
    ws.close();
    assert.ok(next.data.actual_fps <= 3, `fps capped at 2, measured ${next.data.actual_fps}`);
  });

  it('answers take_screenshot with one full-quality screenshot message', async () => {
    const ws = await openSocket(`${s.ws}/stream/demo?fps=30&quality=20&format=jpeg`);
    const frame = await nextJson(ws, (m) => m.type === 'frame');
    ws.send(JSON.stringify({ command: 'take_screenshot' }));
    const shot = await nextJson(ws, (m) => m.type === 'screenshot');
    ws.close();
    assert.deepEqual(Object.keys(shot.data).sort(), Object.keys(frame.data).sort());
    assert.equal(shot.data.format, 'jpeg');
    assert.ok(shot.data.size > frame.data.size * 2, 'quality 100 is far bigger than quality 20');
  });

  describe('bad input', () => {
    const errorCases: [string, string | Buffer, string][] = [
      ['malformed JSON', '{"command":', 'invalid_json'],
      ['a JSON array', '[1,2]', 'invalid_message'],
      ['a message without command', '{"options":{}}', 'invalid_message'],
      ['an unknown command', '{"command":"reboot"}', 'unknown_command'],
      ['options that are not an object', '{"command":"update_options","options":7}', 'invalid_options'],
      ['fps of the wrong type', '{"command":"update_options","options":{"fps":"fast"}}', 'invalid_options'],
      ['fps out of range', '{"command":"update_options","options":{"fps":500}}', 'invalid_options'],
      ['fps zero', '{"command":"update_options","options":{"fps":0}}', 'invalid_options'],
      ['quality out of range', '{"command":"update_options","options":{"quality":5}}', 'invalid_options'],
      ['fractional quality', '{"command":"update_options","options":{"quality":50.5}}', 'invalid_options'],
      ['an unknown format', '{"command":"update_options","options":{"format":"bmp"}}', 'invalid_options'],
      ['an unknown option', '{"command":"update_options","options":{"colour":"red"}}', 'invalid_options'],
      ['a binary message', Buffer.from([1, 2, 3]), 'unsupported_message'],
    ];
    for (const [name, payload, code] of errorCases) {
      it(`answers ${name} with an error message (${code}) and keeps streaming`, async () => {
        const ws = await openSocket(`${s.ws}/stream/demo?fps=30`);
        await nextJson(ws, (m) => m.type === 'frame');
        ws.send(payload);
        const error = await nextJson(ws, (m) => m.type === 'error');
        assert.equal(error.error.code, code);
        assert.equal(typeof error.error.message, 'string');
        const frame = await nextJson(ws, (m) => m.type === 'frame');
        assert.ok(frame.data.frame_number > 0, 'frames keep coming');
        ws.close();
      });
    }

    it('does not apply any option of a partly invalid update', async () => {
      const ws = await openSocket(`${s.ws}/stream/demo?fps=30&format=jpeg`);
      ws.send(JSON.stringify({ command: 'update_options', options: { format: 'png', fps: 99 } }));
      await nextJson(ws, (m) => m.type === 'error');
      const stats = await nextJson(ws, (m) => m.type === 'stats');
      ws.close();
      assert.equal(stats.data.format, 'jpeg');
      assert.equal(stats.data.fps, 30);
    });

    it('closes with 1009 on a message over maxPayload, and the server stays up', async () => {
      const ws = await openSocket(`${s.ws}/stream/demo`);
      ws.send(JSON.stringify({ command: 'update_options', options: { pad: 'x'.repeat(4096) } }));
      const { code } = await closed(ws);
      assert.equal(code, 1009);
      const again = await openSocket(`${s.ws}/stream/demo`);
      await nextJson(again, (m) => m.type === 'frame');
      again.close();
    });

    const refusals: [string, string, string, number][] = [
      ['an unknown stream id', '/stream/nope', 'stream_not_found', 4404],
      ['a stream id with bad characters', '/stream/%2e%2e%2Fetc', 'stream_not_found', 4404],
      ['a long multi-byte stream id (close reason over 123 bytes)', `/stream/${'%E2%82%AC'.repeat(200)}`, 'stream_not_found', 4404],
      ['fps out of range in the query', '/stream/demo?fps=0', 'invalid_query', 4400],
      ['quality that is not a number', '/stream/demo?quality=high', 'invalid_query', 4400],
      ['an unknown format in the query', '/stream/demo?format=tiff', 'invalid_query', 4400],
      ['a repeated query parameter', '/stream/demo?fps=1&fps=2', 'invalid_query', 4400],
    ];
    for (const [name, path, code, closeCode] of refusals) {
      it(`refuses ${name} with an error message (${code}) and close code ${closeCode}`, async () => {
        const ws = new WebSocket(`${s.ws}${path}`);
        const error = nextJson(ws, (m) => m.type === 'error');
        const closing = closed(ws);
        assert.equal((await error).error.code, code);
        assert.equal((await closing).code, closeCode);
      });
    }

    it('answers a path that is not valid percent-encoding with HTTP 400', async () => {
      const ws = new WebSocket(`${s.ws}/stream/%E2%82`);
      const [error] = await new Promise<[Error]>((resolve) => ws.once('error', (e) => resolve([e])));
      assert.match(error.message, /400/);
    });

    it('answers an unknown WebSocket path with HTTP 404', async () => {
      const ws = new WebSocket(`${s.ws}/nowhere`);
      const [error] = await new Promise<[Error]>((resolve) => ws.once('error', (e) => resolve([e])));
      assert.match(error.message, /404/);
    });

    it('cuts off a client that floods messages, without disturbing others', async () => {
      const watcher = await openSocket(`${s.ws}/stream/demo?fps=30`);
      await nextJson(watcher, (m) => m.type === 'frame');
      const flooder = await openSocket(`${s.ws}/stream/demo`);
      const closing = closed(flooder);
      for (let i = 0; i < 1000; i++) flooder.send('{"command":"update_options","options":{"fps":10}}');
      assert.equal((await closing).code, 4429);
      const frame = await nextJson(watcher, (m) => m.type === 'frame');
      assert.ok(frame.data.frame_number > 0);
      watcher.close();
    });

    it('keeps a well-behaved client at full rate while another sends garbage', async () => {
      const good = await openSocket(`${s.ws}/stream/demo?fps=30`);
      const bad = await openSocket(`${s.ws}/stream/demo?fps=30`);
      const garbage = setInterval(() => bad.send('}{ not json'), 20);
      await nextJson(good, (m) => m.type === 'stats');
      const stats = await nextJson(good, (m) => m.type === 'stats');
      clearInterval(garbage);
      good.close();
      bad.close();
      assert.ok(stats.data.actual_fps >= 20, `good client still gets ~30 fps, got ${stats.data.actual_fps}`);
    });
  });
});
