// ffmpeg sources encode their watched H.264 tiers in their own capture process, as extra
// outputs (src/hub/capture-tier-encoder.ts, FfmpegSource.addOutput), over real sockets.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { openSocket, startServer, type TestServer } from './helpers.js';
import { annexBOf, collectUnits, decodeLastPicture, pixelAt, untilUnits } from './video-helpers.js';
import { withTimeout } from './wait.js';
import { tempDir } from './temp-dir.js';
import type { FfmpegSource } from '../src/sources/ffmpeg-source.js';
import type { Stream } from '../src/hub/stream.js';
import type { Frame } from '../src/sources/frame.js';

/** Command lines of this process's children (ffmpeg capture and encoder processes). */
function childCommands(): { pid: number; args: string[] }[] {
  const out: { pid: number; args: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      out.push({ pid: Number(name), args: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0') });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

const x264Children = () => childCommands().filter((c) => c.args.includes('libx264'));

/** The next frame of `stream` that `holds`, bounded. */
function nextFrame(stream: Stream, what: string, holds: (frame: Frame) => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<Frame> {
  let listener: (frame: Frame) => void = () => {};
  const found = new Promise<Frame>((resolve) => {
    listener = (frame) => void Promise.resolve(holds(frame)).then((ok) => ok && resolve(frame), () => {});
    stream.on('frame', listener);
  });
  return withTimeout(found, timeoutMs, what).finally(() => stream.off('frame', listener));
}

async function jpegPixel(frame: Frame, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(frame.bytes).raw().toBuffer({ resolveWithObject: true });
  return pixelAt(data, info.width, x, y);
}

const isBlue = ([r, g, b]: readonly [number, number, number]) => b > 180 && r < 80 && g < 80;
const isRed = ([r, g, b]: readonly [number, number, number]) => r > 180 && g < 80 && b < 80;

describe('ffmpeg sources encode H.264 tiers in their capture process', () => {
  let server: TestServer;
  let dir: { path: string; cleanup(): Promise<void> };
  let lav: Stream;
  let file: Stream;

  before(async () => {
    dir = await tempDir();
    // 4 s red, then 16 s blue: where in the file a picture comes from shows in its colour.
    const path = join(dir.path, 'red-then-blue.mkv');
    const make = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=red:size=320x240:rate=15:d=4',
      '-f', 'lavfi', '-i', 'color=c=blue:size=320x240:rate=15:d=16', '-filter_complex', '[0:v][1:v]concat=n=2:v=1[v]', '-map', '[v]',
      '-c:v', 'mpeg4', '-q:v', '2', '-g', '15', path], { stdio: 'inherit' });
    assert.equal((await once(make, 'close'))[0], 0);
    server = await startServer({
      streams: {
        // Left half blue, right half red.
        lav: { source: 'video', lavfi: 'color=c=red:size=640x480:rate=15,drawbox=x=0:y=0:w=320:h=480:color=blue:t=fill', fps: 15 },
        file: { source: 'video', file: path, fps: 15 },
      },
    });
    lav = server.server.hub.resolve('lav')!;
    file = server.server.hub.resolve('file')!;
  });
  after(async () => {
    await server?.close();
    await dir?.cleanup();
  });

  async function openVideo(path: string): Promise<{ ws: WebSocket; units: ReturnType<typeof collectUnits> }> {
    const ws = new WebSocket(`${server.ws}${path}`);
    ws.on('error', () => {});
    const units = collectUnits(ws);
    await once(ws, 'open');
    return { ws, units };
  }

  it('a lavfi stream on 720p: the capture ffmpeg encodes it, no encoder process, and the units decode to the picture', async () => {
    const { ws, units } = await openVideo('/video/lav?tier=720p');
    try {
      await untilUnits(ws, 'ten units', () => units.length >= 10, 60_000);
      const first = units[0]!;
      assert.equal(first.keyframe, true);
      assert.deepEqual([first.width, first.height], [640, 480], 'never enlarged');
      const rgb = await decodeLastPicture(annexBOf(units.slice(0, 10)), 640, 480);
      assert.ok(isBlue(pixelAt(rgb, 640, 160, 240)), `left is blue: ${pixelAt(rgb, 640, 160, 240)}`);
      assert.ok(isRed(pixelAt(rgb, 640, 480, 240)), `right is red: ${pixelAt(rgb, 640, 480, 240)}`);
      // The unit's capture time and seq are those of the JPEG frame of the same picture.
      const latest = lav.latest!;
      assert.ok(units.some((u) => u.seq === latest.seq && u.capturedAt === latest.capturedAt) || units.at(-1)!.seq < latest.seq,
        'a unit carries its frame\'s seq and capture time');
      const pid = (lav.source as FfmpegSource).pid!;
      const encoders = x264Children();
      assert.deepEqual(encoders.map((c) => c.pid), [pid], 'libx264 runs in the capture ffmpeg only');
      assert.ok(encoders[0]!.args.includes('pipe:3'), 'the tier is the capture process\'s output on fd 3');
    } finally {
      ws.close();
    }
  });

  it('JPEG viewers keep receiving frames while a tier is added (one restart), without an error', async () => {
    const jpeg = await openSocket(`${server.ws}/stream/lav?fps=15`);
    const errors: unknown[] = [];
    const frameTimes: number[] = [];
    jpeg.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === 'error') errors.push(message);
      if (message.type === 'frame') frameTimes.push(performance.now());
    });
    const first = await openVideo('/video/lav?tier=720p');
    try {
      await untilUnits(first.ws, 'a 720p unit', () => first.units.length > 0, 60_000);
      const before = (lav.source as FfmpegSource).pid!;
      const framesBefore = frameTimes.length;
      const second = await openVideo('/video/lav?tier=360p');
      try {
        await untilUnits(second.ws, 'five 360p units', () => second.units.length >= 5, 60_000);
        const after = (lav.source as FfmpegSource).pid!;
        assert.notEqual(after, before, 'a new capture process with both tiers');
        const outputs = x264Children().find((c) => c.pid === after)!.args;
        assert.ok(outputs.includes('pipe:3') && outputs.includes('pipe:4'), 'two tier outputs');
        const rgb = await decodeLastPicture(annexBOf(second.units.slice(0, 5)), 360 * 4 / 3, 360);
        assert.ok(isBlue(pixelAt(rgb, 480, 120, 180)), '360p decodes');
        // The JPEG viewer got frames after the restart, and the 720p viewer units after it.
        await withTimeout(new Promise<void>((resolve) => {
          const check = () => frameTimes.length > framesBefore + 5 && resolve();
          check();
          jpeg.on('message', check);
        }), 30_000, 'JPEG frames after the restart');
        const restartedAt = first.units.length;
        await untilUnits(first.ws, 'a 720p unit of the new process', () => first.units.length > restartedAt + 2, 30_000);
        const gaps = frameTimes.slice(Math.max(1, framesBefore - 1)).map((t, i, all) => (i === 0 ? 0 : t - all[i - 1]!));
        console.log(`# JPEG viewer: longest gap across the restart ${Math.max(...gaps).toFixed(0)} ms (15 fps: 67 ms a frame)`);
        assert.deepEqual(errors, [], 'no error notice');
        assert.equal(jpeg.readyState, WebSocket.OPEN);
      } finally {
        second.ws.close();
      }
    } finally {
      first.ws.close();
      jpeg.close();
    }
  });

  it('a file continues from where it was when a tier restarts its capture process', async () => {
    const jpeg = await openSocket(`${server.ws}/stream/file?fps=15`);
    const frames: { at: number; pid: number | undefined }[] = [];
    jpeg.on('message', (data, isBinary) => {
      if (!isBinary && (JSON.parse(String(data)) as { type: string }).type === 'frame') frames.push({ at: performance.now(), pid: (file.source as FfmpegSource).pid });
    });
    try {
      // Past the red first 4 s.
      await nextFrame(file, 'a blue frame', async (frame) => isBlue(await jpegPixel(frame, 160, 120)), 30_000);
      const before = (file.source as FfmpegSource).pid!;
      const { ws, units } = await openVideo('/video/file?tier=480p');
      try {
        await untilUnits(ws, 'five units', () => units.length >= 5, 60_000);
        assert.notEqual((file.source as FfmpegSource).pid, before, 'restarted with the tier');
        const rgb = await decodeLastPicture(annexBOf(units.slice(0, 5)), 320, 240);
        assert.ok(isBlue(pixelAt(rgb, 320, 160, 120)), `the tier starts where the file was (blue), not at its start: ${pixelAt(rgb, 320, 160, 120)}`);
        const frame = await nextFrame(file, 'a frame of the new process', () => (file.source as FfmpegSource).pid !== before);
        assert.ok(isBlue(await jpegPixel(frame, 160, 120)), 'the JPEG frames too');
        const first = frames.findIndex((f) => f.pid !== before && f.pid !== undefined);
        if (first > 0) console.log(`# JPEG viewer of the file: ${(frames[first]!.at - frames[first - 1]!.at).toFixed(0)} ms from the old process's last frame to the new one's first`);
      } finally {
        ws.close();
      }
    } finally {
      jpeg.close();
    }
  });

  it('comes back with video after the capture ffmpeg is killed (SIGKILL)', async () => {
    const { ws, units } = await openVideo('/video/lav?tier=720p');
    try {
      await untilUnits(ws, 'a unit', () => units.length > 0, 60_000);
      const pid = (lav.source as FfmpegSource).pid!;
      const seen = units.length;
      process.kill(pid, 'SIGKILL');
      await untilUnits(ws, 'a keyframe of the new ffmpeg', () => units.slice(seen).some((u) => u.keyframe && (lav.source as FfmpegSource).pid !== pid), 60_000);
      const start = units.findIndex((u, i) => i >= seen && u.keyframe);
      await untilUnits(ws, 'units after it', () => units.length >= start + 3, 30_000);
      const rgb = await decodeLastPicture(annexBOf(units.slice(start, start + 3)), 640, 480);
      assert.ok(isRed(pixelAt(rgb, 640, 480, 240)), 'the new process\'s units decode');
      assert.deepEqual(x264Children().map((c) => c.pid), [(lav.source as FfmpegSource).pid], 'still in the capture process, no encoder process');
    } finally {
      ws.close();
    }
  });
});
