// Recording benchmark (issue 19, point 6): what a recorded hour costs on disk per kind of
// stream, the CPU of recording a 720p30 stream, and whether live viewers keep their rate while
// it records. framehub runs in this process (createServer, real routes, real ffmpeg); the
// viewers are real WebSocket clients on 127.0.0.1. Phases alternate, not recording and
// recording, so the machine's load moves both alike.
//
//   npm run bench -- --scenario recording [--seconds 10] [--rounds 2]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { WebSocket, type RawData } from 'ws';
import { loadConfig } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import { childFfmpegTicks, encoderCpu, makeVideo } from './ffmpeg-children.js';
import { median } from './percentiles.js';

const medianOf = (values: readonly number[]) => median([...values].sort((a, b) => a - b));

const HELP = `Usage: npm run bench -- --scenario recording [options]

For the demo pattern and a screen-like and a camera-like video file at 1280x720 and 30 fps:
three H.264 viewers of the 720p tier (/video/:id, the tier a recording records) and one JPEG
viewer (/ws/video_feed at the default quality), for --seconds without recording, then
--seconds recording, alternately for --rounds rounds. Reports the viewers' median rate in
each phase, the CPU of the recording's ffmpeg and of the 720p encoder, and the recording's
bytes per hour (with what the JPEG viewer received per hour, what recording JPEG as it is
would cost).

  --seconds <n>   length of each phase (default 10)
  --rounds <n>    not-recording / recording pairs per content (default 2)
  -h, --help      show this help
`;

const WIDTH = 1280;
const HEIGHT = 720;
const log = (line: string) => process.stderr.write(`${line}\n`);
const run = promisify(execFile);

interface Phase { h264Fps: number[]; jpegFps: number; recorderCpu: number; encoderCpu: number; bytesPerHour: number; jpegBytesPerHour: number }

export async function runRecordingBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { scenario: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const seconds = Number(values.seconds ?? 10);
  const rounds = Number(values.rounds ?? 2);
  const dir = await mkdtemp(join(tmpdir(), 'framehub-recording-bench-'));
  try {
    const screen = join(dir, 'screen.mp4');
    const camera = join(dir, 'camera.mp4');
    await makeVideo(screen, `testsrc=size=${WIDTH}x${HEIGHT}:rate=30:duration=20`);
    await makeVideo(camera, `testsrc2=size=${WIDTH}x${HEIGHT}:rate=30:duration=20,noise=alls=8:allf=t`);
    const contents = [
      { name: 'demo pattern', stream: { source: 'pattern', width: WIDTH, height: HEIGHT, fps: 30 } },
      { name: 'screen-like file (`testsrc`)', stream: { source: 'video', file: screen } },
      { name: 'camera-like file (`testsrc2` + noise)', stream: { source: 'video', file: camera } },
    ];
    const rows: string[] = [];
    for (const content of contents) {
      log(`recording: ${content.name} …`);
      rows.push(await measure(content.name, content.stream, seconds, rounds, dir));
    }
    const [l1, l5] = loadavg();
    process.stdout.write('\n| content | H.264 720p viewers, fps (median): not recording / recording | JPEG viewer, fps | recording ffmpeg CPU | 720p encoder CPU | disk per recorded hour (H.264) | JPEG as received, per hour |\n| --- | --- | --- | --- | --- | --- | --- |\n');
    for (const row of rows) process.stdout.write(`${row}\n`);
    process.stdout.write(`\n${new Date().toISOString()}, load ${l1!.toFixed(1)} ${l5!.toFixed(1)}; ${rounds} round(s) of ${seconds} s + ${seconds} s per content\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(name: string, stream: Record<string, unknown>, seconds: number, rounds: number, dir: string): Promise<string> {
  const recordingsDir = join(dir, 'recordings');
  const config = loadConfig({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', recordingsDir, streams: { c: stream } as never } });
  const server = await createServer(config);
  const { port } = await server.listen();
  const counts = { h264: [0, 0, 0], jpeg: 0, jpegBytes: 0 };
  const viewers = [0, 1, 2].map((i) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/video/c?tier=720p`);
    ws.on('message', (_data: RawData, binary) => { if (binary) counts.h264[i]!++; });
    return ws;
  });
  const jpeg = new WebSocket(`ws://127.0.0.1:${port}/ws/video_feed?stream=c&fps=30`);
  jpeg.on('message', (data: RawData, binary) => {
    if (!binary) return;
    counts.jpeg++;
    counts.jpegBytes += (data as Buffer).length;
  });
  const off: Phase[] = [];
  const on: Phase[] = [];
  try {
    await Promise.all([...viewers, jpeg].map((ws) => new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); })));
    await delay(3000);
    for (let round = 0; round < rounds; round++) {
      off.push(await phase(false));
      on.push(await phase(true));
    }
  } finally {
    for (const ws of [...viewers, jpeg]) ws.close();
    await server.close();
  }

  async function phase(recording: boolean): Promise<Phase> {
    let id = '';
    if (recording) {
      const res = await fetch(`http://127.0.0.1:${port}/api/streams/c/record`, { method: 'POST' });
      id = ((await res.json()) as { recording_id: string }).recording_id;
    }
    const before = { h264: [...counts.h264], jpeg: counts.jpeg, jpegBytes: counts.jpegBytes };
    const ticksBefore = await cpu();
    const startedAt = performance.now();
    await delay(seconds * 1000);
    const elapsed = (performance.now() - startedAt) / 1000;
    const ticksAfter = await cpu();
    const result: Phase = {
      h264Fps: counts.h264.map((n, i) => (n - before.h264[i]!) / elapsed),
      jpegFps: (counts.jpeg - before.jpeg) / elapsed,
      recorderCpu: ((ticksAfter.get('recorder') ?? 0) - (ticksBefore.get('recorder') ?? 0)) / 100 / elapsed,
      encoderCpu: ((ticksAfter.get('720p') ?? 0) - (ticksBefore.get('720p') ?? 0)) / 100 / elapsed,
      bytesPerHour: 0,
      jpegBytesPerHour: ((counts.jpegBytes - before.jpegBytes) / elapsed) * 3600,
    };
    if (recording) {
      await fetch(`http://127.0.0.1:${port}/api/streams/c/record`, { method: 'DELETE' });
      const file = join(recordingsDir, `${id}.mp4`);
      // Per second of what the file plays: it also holds the GOP the recorder joined with, from before the start.
      const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
      result.bytesPerHour = ((await stat(file)).size / Number(stdout.trim())) * 3600;
    }
    return result;
  }

  const fps = (phases: Phase[]) => medianOf(phases.flatMap((p) => p.h264Fps)).toFixed(1);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  const pct = (share: number) => `${(share * 100).toFixed(0)} %`;
  const m = (pick: (p: Phase) => number, phases: Phase[]) => medianOf(phases.map(pick));
  return `| ${name} | ${fps(off)} / ${fps(on)} | ${m((p) => p.jpegFps, off).toFixed(1)} / ${m((p) => p.jpegFps, on).toFixed(1)} | ${pct(m((p) => p.recorderCpu, on))} | ${pct(m((p) => p.encoderCpu, off))} / ${pct(m((p) => p.encoderCpu, on))} | **${mb(m((p) => p.bytesPerHour, on))}** | ${mb(m((p) => p.jpegBytesPerHour, off))} |`;
}

/** CPU ticks of the recording's ffmpeg (its input is FLV) and of the 720p encoder. */
async function cpu(): Promise<Map<string, number>> {
  const [recorder, encoders] = await Promise.all([
    childFfmpegTicks((args) => (args.includes('flv') && args.includes('copy') ? 'recorder' : undefined)),
    encoderCpu(),
  ]);
  return new Map([...recorder, ['720p', encoders.get(`${WIDTH}x${HEIGHT}`) ?? 0]]);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
