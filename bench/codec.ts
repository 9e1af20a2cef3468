// Codec benchmark (issue 16, point 6): bytes per second per viewer, H.264 against JPEG, for the
// demo pattern, a browser session on a real page and video files, with the SSIM of each, and the H.264 encoder's CPU per tier.
// framehub runs in this process (createServer, real routes) so the bench can tap the source's
// frames as the reference pictures; the viewers are real WebSocket clients on 127.0.0.1.
//
//   npm run bench -- --scenario codec [--seconds 10] [--ssim-frames 60] [--tiers-in capture,encoder]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { WebSocket, type RawData } from 'ws';
import { loadConfig } from '../src/config/config.js';
import { createServer, type FramehubServer } from '../src/server/create-server.js';
import type { Frame } from '../src/sources/frame.js';
import { sharedSpec } from '../src/hub/variant-spec.js';
import { parseVideoUnit, type VideoUnitMessage } from '../src/wire/video-unit.js';
import { annexBOf } from '../test/video-helpers.js';
import { captureCpu, encoderCpu, makeVideo } from './ffmpeg-children.js';

const HELP = `Usage: npm run bench -- --scenario codec [options]

For each content (the demo pattern, a browser session reading a long page as it scrolls, a
screen-like video file, a camera-like video file), at
1280x720 and 30 fps: a JPEG viewer (/ws/video_feed at the server's default quality) and one
H.264 viewer per tier (/video/:id?tier=) for --seconds each, all at once; reports bytes per
second per viewer, the SSIM of JPEG and of the 720p tier against the source's pictures (ffmpeg's
ssim filter over --ssim-frames frames), and the CPU of each tier's encoder process.

A file source encodes its tiers in its own capture ffmpeg: no encoder process of its own, so
its row gives the CPU the three tiers add to the capture process (its CPU while watched minus
its CPU in a JPEG-only phase before) as one figure.

  --seconds <n>       measuring time per content after a 3 s warm-up (default 10)
  --ssim-frames <n>   frames compared for SSIM (default 60)
  --content <list>    which contents, a comma list of pattern, session, screen, camera,
                      screen-lossless (the screen-like file as lossless FFV1) (default the first four)
  --tiers-in <list>   for the files: capture (tiers in the capture process, the default), encoder
                      (an encoder process per tier fed the decoded JPEG frames, as before); both
                      (comma list) alternate per content
  -h, --help          show this help
`;

const TIERS = ['720p', '480p', '360p'] as const;
const WIDTH = 1280;
const HEIGHT = 720;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Content {
  key: string;
  name: string;
  stream: Record<string, unknown>;
  /** A page a browser session shows (the stream is then the session's screencast). */
  page?: string;
}

/** The session the browser-session content runs in. */
const SESSION_ID = 'codec';

export async function runCodecBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { scenario: { type: 'string' }, seconds: { type: 'string' }, 'ssim-frames': { type: 'string' }, content: { type: 'string' }, 'tiers-in': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const seconds = Number(values.seconds ?? 10);
  const ssimFrames = Number(values['ssim-frames'] ?? 60);
  const chosen = new Set((values.content ?? 'pattern,session,screen,camera').split(',').map((c) => c.trim()));
  const modes = (values['tiers-in'] ?? 'capture').split(',').map((m) => m.trim());
  if (modes.some((m) => m !== 'capture' && m !== 'encoder')) throw new Error('--tiers-in takes capture, encoder or both');
  const dir = await mkdtemp(join(tmpdir(), 'framehub-codec-'));
  try {
    const screen = join(dir, 'screen.mp4');
    const camera = join(dir, 'camera.mp4');
    // Screen-like: bars and a moving box on flat colour. Camera-like: testsrc2 with sensor noise.
    await makeVideo(screen, `testsrc=size=${WIDTH}x${HEIGHT}:rate=30:duration=20`);
    await makeVideo(camera, `testsrc2=size=${WIDTH}x${HEIGHT}:rate=30:duration=20,noise=alls=8:allf=t`);
    const lossless = join(dir, 'screen-lossless.mkv');
    if (chosen.has('screen-lossless')) await makeVideo(lossless, `testsrc=size=${WIDTH}x${HEIGHT}:rate=30:duration=20`, ['-c:v', 'ffv1']);
    const pages = await startReadingPage();
    const contents: Content[] = [
      { key: 'pattern', name: 'demo pattern', stream: { source: 'pattern', width: WIDTH, height: HEIGHT, fps: 30 } },
      { key: 'session', name: 'browser session, a page scrolling', stream: {}, page: pages.url },
      { key: 'screen', name: 'screen-like file', stream: { source: 'video', file: screen } },
      { key: 'camera', name: 'camera-like file', stream: { source: 'video', file: camera } },
      { key: 'screen-lossless', name: 'screen-like file, lossless (FFV1)', stream: { source: 'video', file: lossless } },
    ].filter((content) => chosen.has(content.key));
    const rows: string[] = [];
    try {
      for (const content of contents) {
        const file = content.stream['source'] === 'video';
        for (const mode of file ? modes : ['encoder']) {
          log(`codec: ${content.name}${file ? `, tiers in the ${mode}` : ''} …`);
          rows.push(await measure(content, seconds, ssimFrames, dir, file ? mode : undefined));
        }
      }
    } finally {
      pages.server.close();
    }
    const [l1, l5] = loadavg();
    process.stdout.write(`\n| content | JPEG bytes/s per viewer (SSIM) | H.264 720p bytes/s (SSIM) | ratio | 480p | 360p | encoder CPU 720p / 480p / 360p (sum) |\n| --- | --- | --- | --- | --- | --- | --- |\n`);
    for (const row of rows) process.stdout.write(`${row}\n`);
    process.stdout.write(`\n${new Date().toISOString()}, load ${l1!.toFixed(1)} ${l5!.toFixed(1)}; ${seconds} s per content, SSIM over ${ssimFrames} frames\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(content: Content, seconds: number, ssimFrames: number, dir: string, mode?: string): Promise<string> {
  const config = loadConfig({
    overrides: content.page
      ? { port: 0, host: '127.0.0.1', logLevel: 'silent', browserAllowHosts: '127.0.0.1' }
      : { port: 0, host: '127.0.0.1', logLevel: 'silent', streams: { c: content.stream } as never },
  });
  const server: FramehubServer = await createServer(config);
  const { port } = await server.listen();
  let id = 'c';
  if (content.page) {
    id = `session:${SESSION_ID}`;
    await postJson(`http://127.0.0.1:${port}/api/session/create`, { session_id: SESSION_ID, width: WIDTH, height: HEIGHT, fps: 30, quality: 100 });
    await postJson(`http://127.0.0.1:${port}/api/session/${SESSION_ID}/load`, { url: content.page });
  }
  const stream = server.hub.resolve(id)!;
  // The path before tiers went into the capture process: without `addOutput` the tiers feed
  // their own encoders with the source's frames.
  if (mode === 'encoder') Object.defineProperty(stream.source, 'addOutput', { value: undefined });
  const jpegSpec = sharedSpec({ format: 'jpeg', quality: config.quality });
  try {
    const jpeg = new WebSocket(`ws://127.0.0.1:${port}/ws/video_feed?stream=${id}&fps=30`);
    // The capture process's own CPU without tiers, so what the tiers add to it can be told.
    let captureAlone = 0;
    if (mode) {
      await once(jpeg, 'open');
      await delay(2000);
      const before = (await captureCpu()).get('capture') ?? 0;
      const at = performance.now();
      await delay(seconds * 500);
      captureAlone = ((await captureCpu()).get('capture') ?? 0) - before;
      captureAlone /= 100 * ((performance.now() - at) / 1000);
    }
    const videos = TIERS.map((tier) => new WebSocket(`ws://127.0.0.1:${port}/video/${id}?tier=${tier}`));
    const counts = { jpeg: 0, ...Object.fromEntries(TIERS.map((t) => [t, 0])) } as Record<string, number>;
    let counting = false;
    jpeg.on('message', (data: RawData, binary) => { if (counting && binary) counts['jpeg']! += (data as Buffer).length; });
    const units: VideoUnitMessage[] = [];
    let unitsCounted = 0;
    let framesCounted = 0;
    const countFrame = () => { if (counting) framesCounted++; };
    stream.on('frame', countFrame);
    videos.forEach((ws, i) => ws.on('message', (data: RawData, binary) => {
      if (!binary) return;
      if (counting) counts[TIERS[i]!]! += (data as Buffer).length;
      if (i === 0) {
        units.push(parseVideoUnit(new Uint8Array(data as Buffer)));
        if (counting) unitsCounted++;
      }
    }));
    await Promise.all([...(mode ? [] : [jpeg]), ...videos].map((ws) => once(ws, 'open')));
    await delay(3000);
    // Reference pictures: the source's own pixels (the pattern has them raw; a file's frames
    // are the JPEGs its ffmpeg made) and the JPEG variant a viewer gets, for the next frames.
    const refs = new Map<number, { reference: Promise<Buffer>; jpeg: Promise<Buffer> }>();
    const onFrame = (frame: Frame) => {
      if (refs.size >= ssimFrames) return;
      refs.set(frame.seq, {
        reference: rgbOf(frame),
        jpeg: stream.variants.get(frame, jpegSpec).then((v) => v.bytes),
      });
    };
    stream.on('frame', onFrame);
    const cpuBefore = await encoderCpu();
    const captureBefore = (await captureCpu()).get('capture') ?? 0;
    const startedAt = performance.now();
    counting = true;
    await delay(seconds * 1000);
    counting = false;
    const elapsed = (performance.now() - startedAt) / 1000;
    const cpuAfter = await encoderCpu();
    const captureAfter = (await captureCpu()).get('capture') ?? 0;
    stream.off('frame', onFrame);
    stream.off('frame', countFrame);
    log(`  the source made ${(framesCounted / elapsed).toFixed(1)} fps; the 720p viewer got ${(unitsCounted / elapsed).toFixed(1)} units/s`);
    for (const ws of [jpeg, ...videos]) ws.close();

    const perSecond = (bytes: number) => bytes / elapsed;
    const cpu = TIERS.map((tier) => {
      const size = tierSize(tier);
      const key = `${size.width}x${size.height}`;
      const ticks = (cpuAfter.get(key) ?? 0) - (cpuBefore.get(key) ?? 0);
      return ticks / 100 / elapsed;
    });
    // Tiers in the capture process: one figure, what they added to it.
    const captureAdded = (captureAfter - captureBefore) / 100 / elapsed - captureAlone;
    const percent = (c: number) => `${(c * 100).toFixed(0)} %`;
    const cpuCell = mode === 'capture'
      ? `${percent(captureAdded)} added to the capture process (alone ${percent(captureAlone)})`
      : `${cpu.map(percent).join(' / ')} (${percent(cpu.reduce((a, b) => a + b, 0))})${mode ? `; capture ${percent(captureAlone)} → ${percent(captureAlone + captureAdded)}` : ''}`;
    // SSIM: the H.264 run decoded from its first keyframe, compared on the frames with a reference.
    const wanted = [...refs.keys()];
    const decoded = await decodeUnits(units, WIDTH, HEIGHT);
    const pairs: { reference: Buffer; h264: Buffer; jpeg: Buffer }[] = [];
    for (const seq of wanted) {
      const picture = decoded.get(seq);
      if (!picture) continue;
      const ref = refs.get(seq)!;
      pairs.push({ reference: await ref.reference, h264: picture, jpeg: await rgbOfJpeg(await ref.jpeg) });
    }
    const ssimH264 = await ssim(pairs.map((p) => p.reference), pairs.map((p) => p.h264), dir);
    const ssimJpeg = await ssim(pairs.map((p) => p.reference), pairs.map((p) => p.jpeg), dir);
    const jpegRate = perSecond(counts['jpeg']!);
    const h264Rate = perSecond(counts['720p']!);
    const name = mode ? `${content.name}, tiers in the ${mode}` : content.name;
    return `| ${name} | ${kib(jpegRate)} (${ssimJpeg.toFixed(4)}) | ${kib(h264Rate)} (${ssimH264.toFixed(4)}, ${pairs.length} frames) | **${(jpegRate / h264Rate).toFixed(1)}x** | ${kib(perSecond(counts['480p']!))} | ${kib(perSecond(counts['360p']!))} | ${cpuCell} |`;
  } finally {
    await server.close();
  }
}

async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
}

/**
 * A page as people read them: framehub's README as text in a 760 px column beside a sidebar,
 * scrolled 2 px a frame the way a reader's wheel or a smooth scroll moves it (a still page
 * would paint once and cost nothing in either format).
 */
async function startReadingPage(): Promise<{ server: Server; url: string }> {
  const text = readFileSync(new URL('../README.md', import.meta.url), 'utf8').replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>reading</title><style>
body{margin:0;font:16px/1.5 sans-serif;color:#222;background:#fafafa}
header{position:sticky;top:0;background:#24292f;color:#fff;padding:12px 24px;font-weight:bold}
aside{position:fixed;left:0;top:48px;width:240px;bottom:0;background:#eef1f4;padding:16px;box-sizing:border-box}
main{margin-left:280px;max-width:760px;white-space:pre-wrap}
</style></head><body><header>framehub — README</header><aside>Contents<br>Install<br>Routes<br>Configuration<br>Errors</aside>
<main>${text}</main><script>setInterval(() => { window.scrollBy(0, 2); if (innerHeight + scrollY >= document.body.scrollHeight - 2) scrollTo(0, 0); }, 33);</script></body></html>`;
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/` };
}

function kib(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1024).toFixed(1)} KiB/s`;
}

function tierSize(tier: (typeof TIERS)[number]): { width: number; height: number } {
  const height = Number(tier.slice(0, -1));
  return { width: Math.floor((WIDTH * height) / HEIGHT / 2) * 2, height };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function rgbOf(frame: Frame): Promise<Buffer> {
  if (frame.raw && frame.raw.channels === 3) return Buffer.from(frame.raw.data);
  return rgbOfJpeg(frame.bytes);
}

function rgbOfJpeg(bytes: Buffer): Promise<Buffer> {
  return sharp(bytes).removeAlpha().raw().toBuffer();
}

/** Decodes units (from a keyframe on) with ffmpeg; pictures by the seq of the unit they came from. */
async function decodeUnits(units: readonly VideoUnitMessage[], width: number, height: number): Promise<Map<number, Buffer>> {
  const first = units.findIndex((u) => u.keyframe);
  const run = units.slice(first).filter((u) => u.width === width && u.height === height);
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'h264', '-i', 'pipe:0', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stdin.on('error', () => {});
  child.stdin.end(annexBOf(run));
  await once(child, 'close');
  const all = Buffer.concat(chunks);
  const size = width * height * 3;
  const pictures = new Map<number, Buffer>();
  run.forEach((unit, i) => {
    if ((i + 1) * size <= all.length) pictures.set(unit.seq, all.subarray(i * size, (i + 1) * size));
  });
  return pictures;
}

/** Mean SSIM (ffmpeg's ssim filter, "All") of two equally long runs of RGB pictures. */
async function ssim(reference: readonly Buffer[], distorted: readonly Buffer[], dir: string): Promise<number> {
  if (reference.length === 0) return Number.NaN;
  const a = join(dir, 'a.rgb');
  const b = join(dir, 'b.rgb');
  await writeAll(a, reference);
  await writeAll(b, distorted);
  const raw = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${WIDTH}x${HEIGHT}`];
  const child = spawn('ffmpeg', ['-hide_banner', ...raw, '-i', a, ...raw, '-i', b, '-lavfi', '[0:v]format=yuv420p[x];[1:v]format=yuv420p[y];[x][y]ssim', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString(); });
  await once(child, 'close');
  const match = /All:([0-9.]+)/.exec(errors);
  return match ? Number(match[1]) : Number.NaN;
}

async function writeAll(path: string, pictures: readonly Buffer[]): Promise<void> {
  const out = createWriteStream(path);
  for (const picture of pictures) if (!out.write(picture)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}
