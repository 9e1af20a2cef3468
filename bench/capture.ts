/**
 * Capture benchmark (issue 5, point 6): frames per second and CPU of one stream for
 *   - the desktop, 1280x720, at 15, 30 and 60 fps (Xvfb + ffmpeg x11grab → MJPEG → framehub), and
 *   - a 720p video file at its own 30 fps (ffmpeg decode → MJPEG → framehub).
 *
 * Each case runs a real framehub (in this process) with one stream and one WebSocket viewer on
 * /ws/video_feed asking for every frame at the default quality (so framehub passes ffmpeg's
 * bytes through). CPU is read from /proc for ffmpeg and Xvfb and from process.cpuUsage() for
 * node (server + the one viewer), each as % of one core over the measured window.
 *
 *   npm run bench:capture [-- --duration 10 --json out.json]
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { loadConfig, type StreamConfig } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import type { FfmpegSource } from '../src/sources/ffmpeg-source.js';
import { XClient, makeTestVideo, startXvfb } from '../test/capture-helpers.js';
import { tempDir } from '../test/temp-dir.js';

const TICKS = 100; // CLK_TCK on Linux

interface Row {
  case: string;
  targetFps: number;
  /** Frames the source produced per second. */
  sourceFps: number;
  /** Frames the viewer received per second. */
  fps: number;
  frameKiB: number;
  ffmpegCpu: number;
  xvfbCpu: number | null;
  nodeCpu: number;
}

async function procTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces): utime is 14th, stime 15th overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rawFrame(width: number, height: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}`, '-frames:v', '1', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

async function measure(name: string, stream: StreamConfig, targetFps: number, seconds: number, xvfbPid: number | undefined, display: string | undefined): Promise<Row> {
  const config = loadConfig({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', idleGrace: 1, streams: { bench: stream }, ...(display && { display }) } });
  const server = await createServer(config);
  const { port } = await server.listen();
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/video_feed?stream=bench&fps=60`);
  let frames = 0;
  let bytes = 0;
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return;
    frames++;
    bytes += data.length;
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const source = server.hub.resolve('bench')!.source as FfmpegSource;
  // Warm-up: ffmpeg started and frames flowing for two seconds.
  const warmEnd = Date.now() + 2000;
  while (Date.now() < warmEnd || source.pid === undefined) await new Promise((r) => setTimeout(r, 100));
  const pid = source.pid!;
  const hubStream = server.hub.resolve('bench')!;
  const s0 = hubStream.stats().framesIn;
  const f0 = frames;
  const b0 = bytes;
  const ff0 = await procTicks(pid);
  const x0 = xvfbPid ? await procTicks(xvfbPid) : 0;
  const n0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const n1 = process.cpuUsage(n0);
  const ff1 = await procTicks(pid);
  const x1 = xvfbPid ? await procTicks(xvfbPid) : 0;
  const got = frames - f0;
  const produced = hubStream.stats().framesIn - s0;
  ws.close();
  await server.close();
  const pct = (ticks: number) => Math.round((ticks / TICKS / elapsed) * 1000) / 10;
  return {
    case: name,
    targetFps,
    sourceFps: Math.round((produced / elapsed) * 10) / 10,
    fps: Math.round((got / elapsed) * 10) / 10,
    frameKiB: Math.round((bytes - b0) / Math.max(1, got) / 102.4) / 10,
    ffmpegCpu: pct(ff1 - ff0),
    xvfbCpu: xvfbPid ? pct(x1 - x0) : null,
    nodeCpu: Math.round(((n1.user + n1.system) / 1e6 / elapsed) * 1000) / 10,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, json: { type: 'string' } } });
  const seconds = Number(values.duration);
  const rows: Row[] = [];

  const x = await startXvfb(1280, 720);
  const dir = await tempDir();
  try {
    // A busy desktop (testsrc2's picture on a full-screen window), so JPEG work is realistic.
    const client = await XClient.open(x.display);
    const win = await client.createWindow({ x: 0, y: 0, width: 1280, height: 720, rgb: 0x202020, title: 'bench' });
    await client.putRgb(win, await rawFrame(1280, 720), 1280, 720);
    for (const fps of [15, 30, 60]) {
      rows.push(await measure(`desktop 1280x720 @${fps}`, { source: 'screen', fps, mouse: false }, fps, seconds, x.process.pid, x.display));
      process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
    }
    client.close();
    const file = join(dir.path, 'clip-720p.mp4');
    await makeTestVideo(file, { seconds: 10, width: 1280, height: 720, fps: 30 });
    rows.push(await measure('video file 1280x720 @30 (mpeg4, looped)', { source: 'video', file, fps: 30 }, 30, seconds, undefined, undefined));
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  } finally {
    await dir.cleanup();
    await x.stop();
  }

  const header = '| case | target fps | source fps | viewer fps | frame KiB | ffmpeg CPU % | Xvfb CPU % | node CPU % |';
  const lines = [header, '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.case} | ${r.targetFps} | ${r.sourceFps} | ${r.fps} | ${r.frameKiB} | ${r.ffmpegCpu} | ${r.xvfbCpu ?? '–'} | ${r.nodeCpu} |`)];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) await writeFile(values.json, JSON.stringify(rows, null, 2));
}

await main();
