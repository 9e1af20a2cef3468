// Encode benchmark (issue 20, point 5): frames per CPU-second of one core for a 1280x720 JPEG at
// quality 80, through framehub's encoder, plain sharp variants and libjpeg-turbo's own `tjbench`
// on the same picture, plus the variants a JPEG source needs (another quality, a smaller size).
// Everything runs one encode at a time in this process; CPU is this process's (every thread).
//
//   npm run bench -- --scenario encode [--rounds 5] [--seconds 0.3] [--content pattern,screenshot]
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { PatternSource } from '../src/sources/pattern-source.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import { VariantCache } from '../src/hub/variant.js';
import { encodeJpegTurbo } from '../src/image/jpeg-turbo.js';
import type { RawImage } from '../src/image/raster.js';
import type { Frame } from '../src/sources/frame.js';
import type { VariantSpec } from '../src/hub/variant-spec.js';
import { ascending, median } from './percentiles.js';

const HELP = `Usage: npm run bench -- --scenario encode [options]

Frames per CPU-second (one core) of a 1280x720 JPEG encode at --quality, for each content and
path, in --rounds interleaved rounds of --seconds of CPU per path; medians. The reference is
libjpeg-turbo's own tjbench (Debian package libjpeg-turbo-progs, needed by this bench only) on
the same picture saved as PPM, timed by its CPU time, not its wall time.

  --rounds <n>        interleaved rounds (default 5)
  --seconds <s>       CPU-seconds per path per round (default 0.3); tjbench runs that long in
                      wall time and is counted by its CPU time
  --tjbench-seconds <s>  tjbench's -benchtime, wall time (default 3: long enough that its
                      start-up and its last frame's overshoot stay under 1 % of its count)
  --quality <q>       JPEG quality (default 80)
  --content <list>    pattern (the demo source's frame), screenshot (Chromium showing a page) (default both)
  --tjbench <path>    tjbench binary (default tjbench)
  -h, --help          show this help
`;

const WIDTH = 1280;
const HEIGHT = 720;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Path {
  name: string;
  /** One encode (or decode and encode); resolves to the output's byte length. */
  run(): Promise<number>;
  before?(): void;
  after?(): void;
}

interface Sample { fps: number; bytes: number }

export async function runEncodeBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, quality: { type: 'string' },
      content: { type: 'string' }, tjbench: { type: 'string' }, 'tjbench-seconds': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const rounds = Number(values.rounds ?? 5);
  const seconds = Number(values.seconds ?? 0.3);
  const quality = Number(values.quality ?? 80);
  const tjbench = values.tjbench ?? 'tjbench';
  const tjSeconds = Number(values['tjbench-seconds'] ?? 3);
  const contents = (values.content ?? 'pattern,screenshot').split(',').map((c) => c.trim());
  const dir = await mkdtemp(join(tmpdir(), 'framehub-encode-'));
  const cpu = cpus();
  console.log(`# framehub encode benchmark, ${new Date().toISOString()}`);
  console.log(`machine: ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, Node ${process.version}, shared with other work; load at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, JPEG library in libvips: ${sharp.versions.mozjpeg ? `mozjpeg ${sharp.versions.mozjpeg}` : 'libjpeg(-turbo)'}; sharp.concurrency() ${sharp.concurrency()}, SIMD ${sharp.simd()}`);
  console.log(`options: ${JSON.stringify({ rounds, seconds, tjSeconds, quality, contents })}`);
  try {
    for (const content of contents) {
      const raw = content === 'pattern' ? new PatternSource({ width: WIDTH, height: HEIGHT }).render(1234, new Date(0)) : await screenshot();
      await benchContent(content, raw, { rounds, seconds, quality, tjbench, tjSeconds, dir });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`\nload at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

interface ContentOptions { rounds: number; seconds: number; quality: number; tjbench: string; tjSeconds: number; dir: string }

async function benchContent(content: string, raw: RawImage, options: ContentOptions): Promise<void> {
  const { quality } = options;
  const ppm = join(options.dir, `${content}.ppm`);
  await writeFile(ppm, Buffer.concat([Buffer.from(`P6\n${raw.width} ${raw.height}\n255\n`), raw.data]));
  const rgb = raw.data;
  const rgba = toRgba(raw);
  const rawOpts = { raw: { width: raw.width, height: raw.height, channels: 3 as const } };
  const rgbaOpts = { raw: { width: raw.width, height: raw.height, channels: 4 as const } };
  const jpegOpts = { quality, optimiseCoding: false };
  // The source a screencast or ffmpeg delivers: a JPEG at the same quality.
  const sourceJpeg = await sharp(rgb, rawOpts).jpeg(jpegOpts).toBuffer();
  const encoder = new SharpEncoder();
  // A frame as the demo source makes it (JPEG bytes and raw pixels), and as a JPEG source does (bytes only).
  const base = { format: 'jpeg' as const, width: raw.width, height: raw.height, seq: 1, capturedAt: 0 };
  const rawFrame: Frame = { ...base, bytes: sourceJpeg, raw: { ...raw, data: rgb } };
  const jpegFrame: Frame = { ...base, bytes: sourceJpeg, quality };
  const spec = (s: Partial<VariantSpec>): VariantSpec => ({ format: 'jpeg', quality, ...s });
  const len = async (p: Promise<Buffer | { bytes: Buffer }>) => { const out = await p; return Buffer.isBuffer(out) ? out.length : out.bytes.length; };
  let saved = 0;
  const cacheDefaults = sharp.cache();

  const encodePaths: Path[] = [
    { name: 'framehub encoder (raw RGB frame)', run: () => len(encoder.encode(rawFrame, spec({}))) },
    { name: 'framehub encoder, OSD (raw RGB frame)', run: () => len(encoder.encode(rawFrame, spec({ osd: true }), 'CAM 12:00:00.000 30.0 FPS')) },
    { name: 'libjpeg-turbo via @julusian/jpeg-turbo, RGBA', run: () => len(encodeJpegTurbo({ ...raw, data: rgba, channels: 4 }, quality)) },
    { name: 'sharp RGB (the encoder before)', run: () => len(sharp(rgb, rawOpts).jpeg(jpegOpts).toBuffer()) },
    { name: 'sharp RGBA', run: () => len(sharp(rgba, rgbaOpts).jpeg(jpegOpts).toBuffer()) },
    { name: 'sharp RGBA, removeAlpha()', run: () => len(sharp(rgba, rgbaOpts).removeAlpha().jpeg(jpegOpts).toBuffer()) },
    { name: 'sharp RGB, sequentialRead', run: () => len(sharp(rgb, { ...rawOpts, sequentialRead: true }).jpeg(jpegOpts).toBuffer()) },
    {
      name: 'sharp RGB, concurrency(2)', run: () => len(sharp(rgb, rawOpts).jpeg(jpegOpts).toBuffer()),
      before: () => { saved = sharp.concurrency(); sharp.concurrency(2); }, after: () => { sharp.concurrency(saved); },
    },
    {
      name: 'sharp RGB, cache(false)', run: () => len(sharp(rgb, rawOpts).jpeg(jpegOpts).toBuffer()),
      before: () => { sharp.cache(false); },
      after: () => { sharp.cache({ memory: cacheDefaults.memory.max, files: cacheDefaults.files.max, items: cacheDefaults.items.max }); },
    },
    { name: 'sharp RGB, 4:4:4', run: () => len(sharp(rgb, rawOpts).jpeg({ ...jpegOpts, chromaSubsampling: '4:4:4' }).toBuffer()) },
    {
      name: 'sharp RGB, trellis/overshoot/scans off, table 0',
      run: () => len(sharp(rgb, rawOpts).jpeg({ ...jpegOpts, trellisQuantisation: false, overshootDeringing: false, optimiseScans: false, quantisationTable: 0 }).toBuffer()),
    },
    // Where sharp's time goes: its fixed cost per call, and a pipeline that copies pixels without encoding.
    { name: 'diagnostic: sharp 16x16 RGB to JPEG', run: () => len(sharp(Buffer.alloc(16 * 16 * 3, 128), { raw: { width: 16, height: 16, channels: 3 } }).jpeg(jpegOpts).toBuffer()) },
    { name: 'diagnostic: sharp RGB to raw, no encode', run: () => len(sharp(rgb, rawOpts).raw().toBuffer()) },
  ];
  const q = Math.max(10, quality - 20);
  const sourcePaths: Path[] = [
    { name: `framehub encoder: JPEG frame to q${q} (full decode)`, run: () => len(encoder.encode(jpegFrame, spec({ quality: q }))) },
    { name: 'framehub encoder: JPEG frame to 640x360', run: () => len(encoder.encode(jpegFrame, spec({ maxWidth: 640, maxHeight: 360 }))) },
    { name: 'framehub encoder: JPEG frame to 320x180', run: () => len(encoder.encode(jpegFrame, spec({ maxWidth: 320, maxHeight: 180 }))) },
    { name: 'framehub encoder: JPEG frame to 854x480', run: () => len(encoder.encode(jpegFrame, spec({ maxWidth: 854, maxHeight: 480 }))) },
    { name: 'framehub encoder: raw+JPEG frame (the demo source\'s) to 640x360', run: () => len(encoder.encode(rawFrame, spec({ maxWidth: 640, maxHeight: 360 }))) },
    { name: 'sharp raw RGB resized to 640x360 (the encoder before)', run: () => len(sharp(rgb, rawOpts).resize(640, 360, { fit: 'fill' }).jpeg(jpegOpts).toBuffer()) },
    { name: 'sharp JPEG decoded in full, then resized to 640x360', run: async () => { const full = await sharp(sourceJpeg).raw().toBuffer(); return len(sharp(full, rawOpts).resize(640, 360, { fit: 'fill' }).jpeg(jpegOpts).toBuffer()); } },
    { name: 'sharp JPEG decoded in full, then resized to 320x180', run: async () => { const full = await sharp(sourceJpeg).raw().toBuffer(); return len(sharp(full, rawOpts).resize(320, 180, { fit: 'fill' }).jpeg(jpegOpts).toBuffer()); } },
    { name: `framehub encoder: JPEG frame to q${q} with the OSD`, run: () => len(encoder.encode(jpegFrame, spec({ quality: q, osd: true }), 'CAM 12:00:00.000 30.0 FPS')) },
    { name: `sharp JPEG to q${q} (the encoder before)`, run: () => len(sharp(sourceJpeg).jpeg({ ...jpegOpts, quality: q }).toBuffer()) },
    {
      name: `variant cache: JPEG frame asked at q${Math.min(100, quality + 10)} (pass-through)`,
      run: async () => { const cache = new VariantCache(encoder, () => ''); return (await cache.get(jpegFrame, spec({ quality: Math.min(100, quality + 10) }))).bytes.length; },
    },
  ];

  const encodeSamples = new Map<string, Sample[]>();
  const sourceSamples = new Map<string, Sample[]>();
  const tjSamples: Sample[] = [];
  const tjFastSamples: Sample[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    log(`encode ${content}: round ${round} of ${options.rounds}`);
    // Rotate the order each round so no path always runs first or last.
    const order = [...encodePaths, ...sourcePaths];
    const shift = (round - 1) % order.length;
    const rotated = [...order.slice(shift), ...order.slice(0, shift)];
    const tjAt = round % (rotated.length + 1);
    for (let i = 0; i <= rotated.length; i++) {
      if (i === tjAt) {
        tjSamples.push(await runTjbench(options.tjbench, ppm, quality, options.tjSeconds, false));
        tjFastSamples.push(await runTjbench(options.tjbench, ppm, quality, options.tjSeconds, true));
      }
      const path = rotated[i];
      if (!path) continue;
      const target = encodePaths.includes(path) ? encodeSamples : sourceSamples;
      const samples = target.get(path.name) ?? [];
      samples.push(await measure(path, options.seconds));
      target.set(path.name, samples);
    }
  }

  const ref = median(ascending(tjSamples.map((s) => s.fps)));
  console.log(`\n## ${content}: ${raw.width}x${raw.height} q${quality}, raw RGB in, frames per CPU-second (median of ${options.rounds} rounds)\n`);
  console.log('| path | fps per core | ÷ tjbench | JPEG bytes |');
  console.log('| --- | --- | --- | --- |');
  const row = (name: string, samples: Sample[]) => {
    const fps = median(ascending(samples.map((s) => s.fps)));
    console.log(`| ${name} | ${fmt(fps)} | ${(fps / ref).toFixed(2)}x | ${samples[0]?.bytes ?? '-'} |`);
  };
  row('tjbench (libjpeg-turbo 2.1, accurate DCT), the reference', tjSamples);
  row('tjbench -fastdct', tjFastSamples);
  for (const path of encodePaths) row(path.name, encodeSamples.get(path.name)!);
  console.log(`\n## ${content}: variants of a q${quality} JPEG frame (median of ${options.rounds} rounds)\n`);
  console.log('| path | variants per core-second | JPEG bytes |');
  console.log('| --- | --- | --- |');
  for (const path of sourcePaths) {
    const samples = sourceSamples.get(path.name)!;
    console.log(`| ${path.name} | ${fmt(median(ascending(samples.map((s) => s.fps))))} | ${samples[0]?.bytes ?? '-'} |`);
  }
}

const fmt = (n: number) => (n >= 10_000 ? n.toExponential(1) : n.toFixed(0));

/**
 * Runs `path` back to back until it used `seconds` of this process's CPU (or ten times that of
 * wall time, on a machine too busy to give it any); frames per CPU-second. Counting to a CPU
 * budget rather than a wall-clock one keeps every sample the same size however busy the machine.
 */
async function measure(path: Path, seconds: number): Promise<Sample> {
  path.before?.();
  try {
    let bytes = await path.run(); // warm-up: first-call allocations out of the timed part
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    let used = 0;
    while (used < seconds && performance.now() - t0 < seconds * 10_000) {
      bytes = await path.run();
      n++;
      const cpu = process.cpuUsage(cpu0);
      used = (cpu.user + cpu.system) / 1e6;
    }
    return { fps: n / used, bytes };
  } finally {
    path.after?.();
  }
}

/**
 * One tjbench run, compression only. tjbench reports frames per second of wall time; on a shared
 * machine that counts time it waited for a core, so its CPU time (bash's `times` for its child)
 * turns the frame count into frames per CPU-second like the in-process paths.
 */
async function runTjbench(bin: string, ppm: string, quality: number, seconds: number, fastdct: boolean): Promise<Sample> {
  const args = [ppm, String(quality), '-rgb', '-subsamp', '420', '-componly', '-nowrite', '-quiet', '-benchtime', String(seconds), '-warmup', '0', ...(fastdct ? ['-fastdct'] : [])];
  const script = `"$0" "$@" || exit 1; times`;
  const child = spawn('bash', ['-c', script, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
  if (code !== 0) throw new Error(`tjbench failed (${code}): ${err || out} — install it with apt-get install libjpeg-turbo-progs`);
  // -quiet prints: format, bottom-up, subsampling, quality, width, height, compression Mpixels/s, ratio, ...
  const line = out.split('\n').find((l) => /^\s*RGB\s/.test(l));
  const fields = line?.trim().split(/\s+/) ?? [];
  const mpixels = Number(fields[6]);
  const ratio = Number(fields[7]);
  // bash's `times`: the shell's user/system, then its children's: "0m0.629s 0m0.007s".
  const times = out.trim().split('\n').slice(-1)[0]!.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
  if (!Number.isFinite(mpixels) || !times) throw new Error(`cannot read tjbench output: ${out}`);
  const cpuSeconds = Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4]);
  // It compresses for `seconds` of wall time at the reported rate; loading the PPM is in its CPU
  // time too (a few ms, under 1 % of a second's run).
  const frames = (mpixels * 1e6 / (WIDTH * HEIGHT)) * seconds;
  return { fps: frames / cpuSeconds, bytes: Math.round(WIDTH * HEIGHT * 3 / ratio) };
}

/** A browser-like screenshot: Chromium showing a text-heavy page, as RGB. */
async function screenshot(): Promise<RawImage> {
  const browser = await chromium.launch({
    executablePath: process.env['CHROME_PATH'] ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } });
    await page.setContent(PAGE);
    const png = await page.screenshot({ type: 'png' });
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: 3 };
  } finally {
    await browser.close();
  }
}

function toRgba(raw: RawImage): Buffer {
  const out = Buffer.alloc(raw.width * raw.height * 4, 255);
  for (let i = 0, j = 0; i < raw.data.length; i += 3, j += 4) {
    out[j] = raw.data[i]!;
    out[j + 1] = raw.data[i + 1]!;
    out[j + 2] = raw.data[i + 2]!;
  }
  return out;
}

// A page like the ones sessions show: a header bar, a side menu, headings, paragraphs, a table, buttons.
const PARAGRAPH = 'Real-time image streams fan out to many viewers in several wire formats. Each variant is encoded once per frame, never per client, and the latest frame always wins over older ones still queued. ';
const PAGE = `<!doctype html><html><head><style>
body{margin:0;font:15px/1.5 sans-serif;color:#222;background:#fff}
header{background:#1f3a5f;color:#fff;padding:14px 24px;font-size:20px}
nav{float:left;width:220px;background:#f1f3f6;height:660px;padding:12px}
nav a{display:block;color:#1f3a5f;padding:6px 8px;border-bottom:1px solid #dde}
main{margin-left:250px;padding:8px 24px}
table{border-collapse:collapse;margin:10px 0}td,th{border:1px solid #ccd;padding:4px 10px}
th{background:#e8edf4}button{background:#2d7ff9;color:#fff;border:0;border-radius:4px;padding:8px 14px;margin-right:8px}
.card{display:inline-block;width:180px;height:90px;margin:6px;border-radius:6px;background:linear-gradient(135deg,#ffd166,#ef476f)}
</style></head><body><header>framehub &mdash; streams dashboard</header>
<nav>${['Overview', 'Streams', 'Sessions', 'Recordings', 'Generations', 'Cluster', 'Settings', 'Help'].map((a) => `<a>${a}</a>`).join('')}</nav>
<main><h1>Streams</h1><p>${PARAGRAPH.repeat(3)}</p>
<table><tr><th>id</th><th>source</th><th>fps</th><th>viewers</th><th>bytes/s</th></tr>
${Array.from({ length: 6 }, (_, i) => `<tr><td>stream-${i}</td><td>${['pattern', 'browser', 'x11', 'ffmpeg'][i % 4]}</td><td>${30 - i}</td><td>${i * 17 + 3}</td><td>${(i + 1) * 123456}</td></tr>`).join('')}</table>
<div>${Array.from({ length: 4 }, () => '<span class="card"></span>').join('')}</div>
<p>${PARAGRAPH.repeat(2)}</p><button>Start</button><button>Stop</button><button>Share</button></main></body></html>`;
