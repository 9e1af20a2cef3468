import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { MjpegSplitter } from '../src/sources/mjpeg-splitter.js';
import { FfmpegProcess, describeFfmpegExit } from '../src/sources/ffmpeg-process.js';
import { qscaleForQuality } from '../src/sources/ffmpeg-source.js';
import { VideoSource } from '../src/sources/video-source.js';
import type { SourceExit } from '../src/sources/source.js';
import { createServer as createNetServer, type Socket } from 'node:net';
import { sniffImage } from '../src/image/sniff.js';

/** Real MJPEG from ffmpeg: `count` testsrc2 frames, concatenated as on the pipe. */
function ffmpegMjpeg(count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=25', '-frames:v', String(count), '-q:v', '5', '-f', 'mjpeg', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

/** Offsets of every FF D8 FF in `bytes`: the reference split for ffmpeg's output (no thumbnails in it). */
function referenceSplit(bytes: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff])); i >= 0; i = bytes.indexOf(Buffer.from([0xff, 0xd8, 0xff]), i + 1)) starts.push(i);
  return starts.map((start, k) => bytes.subarray(start, starts[k + 1] ?? bytes.length));
}

function split(chunks: Buffer[]): { frames: Buffer[]; splitter: MjpegSplitter } {
  const frames: Buffer[] = [];
  const splitter = new MjpegSplitter((frame) => frames.push(frame));
  for (const chunk of chunks) splitter.push(chunk);
  return { frames, splitter };
}

function chunked(bytes: Buffer, size: (i: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, size(i));
    // Copies, so a view into one chunk can be told apart from a view into `bytes`.
    out.push(Buffer.from(bytes.subarray(at, at + n)));
    at += n;
  }
  return out;
}

describe('MjpegSplitter', { timeout: 120_000 }, () => {
  let stream: Buffer;
  let reference: Buffer[];
  before(async () => {
    stream = await ffmpegMjpeg(12);
    reference = referenceSplit(stream);
    assert.equal(reference.length, 12);
  });

  it('splits ffmpeg output into its JPEGs whatever the chunk sizes', () => {
    for (const size of [() => 1, () => 2, () => 3, () => 7, () => 4096, () => 65536, (i: number) => (i * 7919) % 3000]) {
      const { frames } = split(chunked(stream, size));
      assert.equal(frames.length, 12);
      frames.forEach((frame, i) => assert.ok(frame.equals(reference[i]!), `frame ${i}`));
      for (const frame of frames) assert.deepEqual(sniffImage(frame), { format: 'jpeg', mimeType: 'image/jpeg', width: 160, height: 90 });
    }
  });

  it('hands out a frame that lies in one chunk as a view of that chunk, without copying', () => {
    const chunk = Buffer.from(stream);
    const { frames } = split([chunk]);
    assert.equal(frames.length, 12);
    for (const frame of frames) assert.equal(frame.buffer, chunk.buffer);
  });

  it('skips garbage between frames and a frame cut off by the next SOI', () => {
    const first = reference[0]!;
    const cut = first.subarray(0, Math.floor(first.length / 2));
    const input = Buffer.concat([Buffer.from('garbage\xff\x00\xff'), cut, reference[1]!, Buffer.from([0x00, 0xff, 0x12]), reference[2]!]);
    const { frames, splitter } = split(chunked(input, () => 100));
    assert.equal(frames.length, 2);
    assert.ok(frames[0]!.equals(reference[1]!));
    assert.ok(frames[1]!.equals(reference[2]!));
    assert.equal(splitter.dropped, 1);
  });

  it('does not end a frame at the FF D9 of an embedded thumbnail', () => {
    const frame = reference[3]!;
    const thumbnail = reference[4]!;
    // An APP1 segment holding a whole JPEG (as EXIF thumbnails do), right after SOI.
    const app1 = Buffer.alloc(4);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(thumbnail.length + 2, 2);
    const withThumb = Buffer.concat([frame.subarray(0, 2), app1, thumbnail, frame.subarray(2)]);
    const { frames } = split(chunked(withThumb, () => 333));
    assert.equal(frames.length, 1);
    assert.ok(frames[0]!.equals(withThumb));
  });

  it('drops a frame longer than the limit instead of growing without bound', () => {
    const frames: Buffer[] = [];
    const splitter = new MjpegSplitter((f) => frames.push(f), { maxFrameBytes: 16 * 1024 });
    // SOI, then an unterminated scan: never a frame end.
    splitter.push(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]));
    for (let i = 0; i < 40; i++) splitter.push(Buffer.alloc(1024, 0x11));
    splitter.push(reference[0]!);
    assert.equal(frames.length, 1);
    assert.ok(frames[0]!.equals(reference[0]!));
    assert.ok(splitter.dropped >= 1);
  });
});

describe('FfmpegProcess', { timeout: 120_000 }, () => {
  it('reports a failing ffmpeg with its exit code and last stderr lines', async () => {
    const proc = new FfmpegProcess(['-hide_banner', '-i', '/nonexistent/framehub-input.mp4', '-f', 'null', '-']);
    const exit = await proc.exited;
    assert.notEqual(exit.code, 0);
    assert.equal(exit.requested, false);
    assert.match(describeFfmpegExit(exit), /ffmpeg exited with code \d+: .*No such file or directory/);
  });

  it('names a binary that is not there', async () => {
    const exit = await new FfmpegProcess(['-version'], { command: '/nonexistent/ffmpeg' }).exited;
    assert.equal((exit.spawnError as NodeJS.ErrnoException).code, 'ENOENT');
    assert.match(describeFfmpegExit(exit), /could not be started/);
  });

  it('stops a running ffmpeg on request, and says the exit was requested', async () => {
    const proc = new FfmpegProcess(['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=rate=10', '-f', 'mjpeg', 'pipe:1']);
    await new Promise((resolve) => proc.once('data', resolve));
    const exit = await proc.stop();
    assert.equal(exit.requested, true);
    assert.equal(await proc.stop(), exit, 'stop() twice is safe');
  });
});

/** Pids of this process's ffmpeg children, from /proc (no procps needed). */
async function ffmpegChildren(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const match = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (match && match[1] === 'ffmpeg' && Number(match[2]) === process.pid) pids.push(Number(entry));
  }
  return pids;
}

describe('FfmpegSource lifecycle', { timeout: 120_000 }, () => {
  it('runs one ffmpeg however start() and stop() interleave, and none after stop()', async (t) => {
    const source = new VideoSource({ fps: 10, quality: 80, input: { lavfi: 'color=c=red:size=64x64:rate=10' } });
    t.after(() => source.stop());
    const frame = new Promise((resolve) => source.once('frame', resolve));
    const first = source.start();
    const stopped = source.stop();
    await Promise.all([first, stopped, source.start(), source.start()]);
    await frame;
    assert.equal((await ffmpegChildren()).length, 1);
    assert.equal((await ffmpegChildren())[0], source.pid);
    await source.stop();
    assert.deepEqual(await ffmpegChildren(), []);
  });
});

describe('FfmpegSource stall watchdog', { timeout: 120_000 }, () => {
  it('kills an ffmpeg that sends no frame and reports it as a restartable exit', async (t) => {
    // An HTTP server that accepts and then says nothing: ffmpeg waits for ever on its own.
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const source = new VideoSource({ fps: 10, quality: 80, stallTimeoutMs: 500, input: { url: `http://127.0.0.1:${port}/never` } });
    t.after(() => source.stop());
    const exit = new Promise<SourceExit>((resolve) => source.once('exit', resolve));
    await source.start();
    const pid = source.pid!;
    const { error, restartable } = await exit;
    assert.equal(restartable, true);
    assert.match(error.message, /no frame from ffmpeg for 500 ms/);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });
});

describe('qscaleForQuality', { timeout: 120_000 }, () => {
  it('maps libjpeg quality to ffmpeg -q:v by equal mean quantiser step, within 2-31', () => {
    assert.equal(qscaleForQuality(80), 6);
    assert.equal(qscaleForQuality(50), 14);
    assert.equal(qscaleForQuality(100), 2);
    assert.equal(qscaleForQuality(10), 31);
    for (let q = 10; q < 100; q++) assert.ok(qscaleForQuality(q) >= qscaleForQuality(q + 1), 'monotonic');
  });
});
