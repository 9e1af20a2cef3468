import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { closed, nextBinary, nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { colourNear, makeTestVideo, meanColour } from './capture-helpers.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait.js';
import { sniffImage } from '../src/image/sniff.js';
import type { FfmpegSource } from '../src/sources/ffmpeg-source.js';
import type { Stream } from '../src/hub/stream.js';

/** Video sources end to end: real ffmpeg, files it wrote a moment ago, real sockets. */
describe('video sources through ffmpeg', { timeout: 120_000 }, () => {
  let s: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let http: Server;
  before(async () => {
    dir = await tempDir();
    await makeTestVideo(join(dir.path, 'clip.mp4'), { seconds: 2, width: 320, height: 180, fps: 15 });
    await makeTestVideo(join(dir.path, 'short.mp4'), { seconds: 1, width: 160, height: 90, fps: 10 });
    await makeTestVideo(join(dir.path, 'magenta.ts'), { seconds: 2, width: 160, height: 90, fps: 15, lavfi: 'color=c=0xff00ff:' });
    // A plain HTTP server handing out an MPEG-TS file: the `url` input, for real.
    http = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'video/mp2t' });
      createReadStream(join(dir.path, 'magenta.ts')).pipe(response);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const httpPort = (http.address() as { port: number }).port;
    s = await startServer({
      streams: {
        clip: { source: 'video', file: join(dir.path, 'clip.mp4'), fps: 15 },
        once: { source: 'video', file: join(dir.path, 'short.mp4'), loop: false, fps: 10 },
        blue: { source: 'video', lavfi: 'color=c=0x0000ff:size=320x180:rate=15', fps: 15 },
        green: { source: 'video', lavfi: 'color=c=0x00ff00:size=320x180:rate=15', fps: 15, width: 160, height: 90 },
        net: { source: 'video', url: `http://127.0.0.1:${httpPort}/magenta.ts`, fps: 15 },
      },
    });
  });
  after(async () => {
    await s?.close();
    http?.closeAllConnections();
    http?.close();
    await dir?.cleanup();
  });
  const stream = (id: string) => s.server.hub.resolve(id) as Stream;

  it('streams a file as JPEG frames of its size on /ws/video_feed, bytes passed through untouched', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=clip`);
    const frames: Buffer[] = [];
    for (let i = 0; i < 5; i++) frames.push(await nextBinary(ws));
    ws.close();
    for (const frame of frames) assert.deepEqual(sniffImage(frame), { format: 'jpeg', mimeType: 'image/jpeg', width: 320, height: 180 });
    // Default quality = the source's nominal quality: the variant is ffmpeg's own bytes.
    assert.equal(stream('clip').stats().encodes, 0, 'no re-encode for the default variant');
    assert.equal(stream('clip').source.kind, 'video');
  });

  it('keeps a looped file playing past its end', async () => {
    const ws = await openSocket(`${s.ws}/stream/clip?fps=30`);
    const first = await nextJson(ws, (m) => m.type === 'frame');
    // 2 s at 15 fps = 30 frames; 40 frames means the loop went round.
    let last = first;
    for (let i = 0; i < 40; i++) last = await nextJson(ws, (m) => m.type === 'frame');
    ws.close();
    assert.ok(last.data.frame_number - first.data.frame_number >= 40);
  });

  it('ends a file played once with an error, then closes 4410', async () => {
    const ws = await openSocket(`${s.ws}/stream/once`);
    const ended = closed(ws);
    const error = await nextJson(ws, (m) => m.type === 'error');
    assert.equal(error.error.code, 'stream_ended');
    assert.match(error.error.message, /short\.mp4 has ended/);
    assert.equal((await ended).code, 4410);
  });

  it('decodes a lavfi graph: the colour it draws is the colour of the frame', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=blue`);
    const frame = await nextBinary(ws);
    ws.close();
    const mean = await meanColour(frame);
    assert.ok(colourNear(mean, 0x0000ff), `mean colour ${mean} is blue`);
  });

  it('reads an HTTP URL', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=net`);
    const frame = await nextBinary(ws);
    ws.close();
    assert.deepEqual([sniffImage(frame)?.width, sniffImage(frame)?.height], [160, 90]);
    const mean = await meanColour(frame);
    assert.ok(colourNear(mean, 0xff00ff), `mean colour ${mean} is magenta`);
  });

  it('scales to the configured width and height', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=green`);
    const frame = await nextBinary(ws);
    ws.close();
    assert.deepEqual([sniffImage(frame)?.width, sniffImage(frame)?.height], [160, 90]);
    assert.ok(colourNear(await meanColour(frame), 0x00ff00));
  });

  it('draws the OSD only when asked; without it the bytes are the source frame', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=blue`);
    const raw = await nextBinary(ws);
    const label = { left: 8, top: 8, width: 100, height: 14 };
    assert.ok(colourNear(await meanColour(raw, label), 0x0000ff), 'raw frame: no overlay');
    const encodesBefore = stream('blue').stats().encodes;
    ws.send(JSON.stringify({ type: 'config', osd: true }));
    // The frame in flight when the command arrived may still be raw: wait for an overlaid one.
    let osd = raw;
    await waitFor('an OSD frame', async () => {
      osd = await nextBinary(ws);
      return !colourNear(await meanColour(osd, label), 0x0000ff, 40);
    }, 10_000, 0);
    ws.send(JSON.stringify({ type: 'config', osd: false }));
    ws.close();
    assert.ok(stream('blue').stats().encodes > encodesBefore, 'the OSD variant is an encode');
    assert.deepEqual([sniffImage(osd)?.width, sniffImage(osd)?.height], [320, 180]);
  });

  it('restarts a killed ffmpeg; the subscriber hears about it, then gets frames again', async () => {
    const ws = await openSocket(`${s.ws}/stream/blue?fps=30`);
    await nextJson(ws, (m) => m.type === 'frame');
    const source = stream('blue').source as FfmpegSource;
    const pid = source.pid;
    assert.ok(pid, 'ffmpeg runs');
    const notice = nextJson(ws, (m) => m.type === 'error');
    process.kill(pid, 'SIGKILL');
    const error = await notice;
    assert.equal(error.error.code, 'source_error');
    assert.match(error.error.message, /ffmpeg was killed \(SIGKILL\).*restarting/);
    const frame = await nextJson(ws, (m) => m.type === 'frame');
    ws.close();
    assert.ok(frame.data.width === 320);
    assert.ok(source.pid && source.pid !== pid, 'a new ffmpeg process');
  });

  it('stops ffmpeg after the idle grace once the last viewer left', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=green`);
    await nextBinary(ws);
    const source = stream('green').source as FfmpegSource;
    const pid = source.pid!;
    ws.close();
    await waitFor('ffmpeg to stop', () => source.pid === undefined && stream('green').state === 'stopped', 5000);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the process is gone');
  });
});
