// Glass-to-glass benchmark (issue 20, point 3): follows frames of a 1280x720 30 fps demo
// pattern from capture into real Chromium on /stream/:id, /ws/video_feed and Socket.IO, and
// reports per frame capture → arrival → decoded → drawn, p50 and p95, with the share of each
// stage, frames received against frames drawn, headless and headed (under an Xvfb it starts).
//
// framehub runs in this process (createServer, real routes) so the bench can tap the stream's
// frames as they leave the source; one Node client per route, on the same loopback, says when
// a frame left the server's sockets, so "send" (server → socket) and "receive" (the browser's
// network process → the page's main thread) are told apart. Page and Node stamp times with the
// machine's wall clock (performance.timeOrigin + performance.now()), as capture times are.
//
//   npm run bench -- --scenario glass [--seconds 10] [--modes headless,headed] [--routes stream,video_feed,socketio,viewer]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocket, type RawData } from 'ws';
import { io as connectSocketIo, type Socket } from 'socket.io-client';
import { loadConfig } from '../src/config/config.js';
import { createServer, type FramehubServer } from '../src/server/create-server.js';
import type { Frame } from '../src/sources/frame.js';
import { preciseNow } from '../src/util/clock.js';
import { CHROME_PATH, CHROMIUM_ARGS } from '../test/browser-helpers.js';
import { startXvfb, type XServer } from '../test/capture-helpers.js';
import { ascending, mean, median, percentile } from './percentiles.js';

const HELP = `Usage: npm run bench -- --scenario glass [options]

Glass to glass: a 1280x720 demo pattern at --fps, served by framehub in this process, drawn by
real Chromium (${CHROME_PATH}) on a canvas. For each mode (headless; headed under an Xvfb the
bench starts and stops) and each route, a fresh page connects, warms up, then measures every
frame: capture → left the source (encode) → left framehub's socket (send, a Node client on the
same route) → the page's message handler (receive) → createImageBitmap resolved (decode) → the
animation frame after the one that drew it (paint). The page draws with web/frame-painter.js,
the viewer's own painter. Route "viewer" opens the viewer at / itself and reads its counters.

  --seconds <n>     measured seconds per page (default 10)
  --warmup <s>      seconds before measuring (default 3)
  --fps <n>         source and requested frame rate (default 30)
  --quality <n>     JPEG quality of the source and of every route (default 80: passed through)
  --modes <list>    headless, headed (default both)
  --compare-painter <file>  measure every page twice in a row: with web/frame-painter.js and
                    with <file> served in its place (e.g. an older one from git show), labelled
  --canvas-css <css>  style of the bench page's canvas (default none: drawn at 1:1), e.g. the
                    viewer's "max-width:100%;max-height:72vh;height:auto;border-radius:4px"
  --rounds <n>      repeat every page n times, interleaved, and sum up by medians (default 1)
  --routes <list>   stream (/stream/:id), video_feed (/ws/video_feed), socketio (Socket.IO
                    subscribe {stream}), viewer (the page at /) (default all four)
  -h, --help        show this help
`;

const WIDTH = 1280;
const HEIGHT = 720;
const STREAM = 'glass';
const PAGE_PATH = '/__glass-bench.html';
const ROUTES = ['stream', 'video_feed', 'socketio', 'viewer'] as const;
type Route = (typeof ROUTES)[number];
const MODES = ['headless', 'headed'] as const;
type Mode = (typeof MODES)[number];
const log = (line: string) => process.stderr.write(`${line}\n`);

/** What the bench page hands back: one record per frame it received, plus its painter's counters. */
interface PageRecord {
  key: string;
  arrivedAt: number;
  decodedAt?: number;
  drawnAt?: number;
  /** The animation frame after the one that drew it: the frame is on screen by then. */
  shownAt?: number;
}
interface PageResult {
  records: PageRecord[];
  drawn: number;
  skipped: number;
  failed: number;
  /** Undefined from a painter without the split (the one before issue 20). */
  skippedUndecoded?: number;
  skippedUndrawn?: number;
}

/** One frame as the stream emitted it. */
interface Tapped {
  capturedAt: number;
  emittedAt: number;
}

interface Row {
  mode: Mode;
  route: Route;
  /** Which painter drew: web/'s or the --compare-painter file. */
  painter?: string;
  seconds: number;
  received: number;
  drawn: number;
  skipped: number;
  skippedUndecoded?: number;
  skippedUndrawn?: number;
  /** Gaps between the page's animation frames while measuring, ms. */
  frameGaps: number[];
  /** Per stage, ms, over the frames drawn. */
  stages?: Record<Stage, number[]>;
  arrival?: number[];
  drawImage?: number[];
  total?: number[];
  /** The viewer's own capture → screen figure (latest frame), ms. */
  viewerLatency?: number;
}

const STAGES = ['encode', 'send', 'receive', 'decode', 'paint'] as const;
type Stage = (typeof STAGES)[number];

/**
 * Length and 64 bytes spread over the JPEG: tells the frames of one stream apart on
 * /ws/video_feed, whose messages are bare images. The page computes the same (PAGE_SCRIPT).
 */
function fingerprint(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  const step = Math.max(1, Math.floor(bytes.length / 64));
  for (let i = 0; i < bytes.length; i += step) hash = Math.imul(hash ^ bytes[i]!, 0x01000193) >>> 0;
  return `${bytes.length}:${hash.toString(16)}`;
}

/**
 * Installed in every page measured: the gaps between animation frames while measuring. A
 * renderer that keeps up with a 60 Hz display calls back every ~16.7 ms; longer gaps are
 * display frames it did not produce, whatever the page asked for.
 */
const FRAME_PROBE = `(() => {
  const probe = { gaps: [], last: NaN };
  const tick = (at) => {
    if (Number.isFinite(probe.last)) probe.gaps.push(at - probe.last);
    probe.last = at;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.__frameProbe = probe;
})()`;

/** The bench page: the same modules and painter as the viewer, one route chosen by `?route=`. */
const PAGE_SCRIPT = `
import { StreamClient, StreamClientEvent, parseDataUrl } from '/framehub-client.min.js';
import { FramePainter } from '/frame-painter.js';
const query = new URLSearchParams(location.search);
const route = query.get('route');
const stream = query.get('stream');
const fps = Number(query.get('fps'));
const quality = Number(query.get('quality'));
const now = () => performance.timeOrigin + performance.now();
${fingerprint.toString()}
let records = [];
const canvas = document.getElementById('screen');
canvas.style.cssText = query.get('css') ?? '';
const painter = new FramePainter(canvas, (frame, timing) => {
  const record = frame.record;
  if (!record) return;
  // The viewer's painter before issue 20 passed only drawnAt.
  if (typeof timing === 'number') record.drawnAt = timing;
  else Object.assign(record, timing);
  requestAnimationFrame(() => { record.shownAt = now(); });
});
function arrived(key, frame) {
  const record = { key: String(key), arrivedAt: now() };
  records.push(record);
  painter.offer({ ...frame, record });
}
let close = () => {};
if (route === 'stream') {
  const client = new StreamClient({ url: location.origin, stream, fps, quality, format: 'jpeg' });
  client.on(StreamClientEvent.Frame, ({ frame }) => arrived(frame.frame_number, frame));
  client.connect().catch(() => {});
  close = () => client.disconnect();
} else if (route === 'video_feed') {
  const ws = new WebSocket(\`ws://\${location.host}/ws/video_feed?stream=\${stream}&fps=\${fps}&quality=\${quality}\`);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') return;
    const at = now();
    const bytes = new Uint8Array(event.data);
    const record = { key: fingerprint(bytes), arrivedAt: at };
    records.push(record);
    painter.offer({ blob: new Blob([bytes], { type: 'image/jpeg' }), timestamp: NaN, record });
  };
  close = () => ws.close();
} else if (route === 'socketio') {
  const socket = io({ transports: ['websocket'] });
  socket.on('connect', () => {
    socket.emit('adaptive:toggle', { enabled: false });
    socket.emit('quality:set', { quality });
    socket.emit('fps:set', { fps });
    socket.emit('subscribe', { stream });
  });
  socket.on('frame', (data) => arrived(data.timestamp, { data_url: 'data:image/jpeg;base64,' + data.image, timestamp: data.timestamp }));
  close = () => socket.close();
}
window.__glass = {
  reset() { records = []; painter.resetCounters(); },
  stop() {
    close();
    return {
      records, drawn: painter.drawn, skipped: painter.skipped, failed: painter.failed,
      skippedUndecoded: painter.skippedUndecoded, skippedUndrawn: painter.skippedUndrawn,
    };
  },
};
`;

const PAGE_HTML = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>glass</title>
<style>body{margin:0;background:#111}canvas{display:block}</style>
<script src="/socket.io/socket.io.js"></script>
<script type="module">${PAGE_SCRIPT}</script></head>
<body><canvas id="screen" width="${WIDTH}" height="${HEIGHT}"></canvas></body></html>`;

export async function runGlassBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, fps: { type: 'string' },
      quality: { type: 'string' }, modes: { type: 'string' }, routes: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      'compare-painter': { type: 'string' }, rounds: { type: 'string' }, 'canvas-css': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const seconds = Number(values.seconds ?? 10);
  const warmup = Number(values.warmup ?? 3);
  const fps = Number(values.fps ?? 30);
  const quality = Number(values.quality ?? 80);
  const modes = list(values.modes, MODES, 'modes');
  const routes = list(values.routes, ROUTES, 'routes');
  const painters: Painter[] = [{ label: 'web/' }];
  if (values['compare-painter']) painters.push({ label: basename(values['compare-painter']), source: readFileSync(values['compare-painter'], 'utf8') });
  const canvasCss = values['canvas-css'] ?? '';
  const rounds = Number(values.rounds ?? 1);
  if (!(seconds > 0 && seconds <= 120 && warmup >= 0 && warmup <= 60 && fps >= 1 && fps <= 60 && quality >= 10 && quality <= 100 && Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) {
    throw new Error('--seconds 1-120, --warmup 0-60, --fps 1-60, --quality 10-100, --rounds 1-20');
  }
  // Bounds the whole run whatever hangs: every page has its own timeouts too.
  const watchdog = setTimeout(() => {
    log('glass: did not finish in time; giving up');
    process.exit(1);
  }, (rounds * modes.length * routes.length * painters.length * (seconds + warmup + 30) + 60) * 1000);
  watchdog.unref();

  const config = loadConfig({
    overrides: {
      port: 0, host: '127.0.0.1', logLevel: 'silent', quality, frameRate: fps,
      streams: { [STREAM]: { source: 'pattern', width: WIDTH, height: HEIGHT, fps, quality } } as never,
    },
  });
  const server: FramehubServer = await createServer(config);
  const { port } = await server.listen();
  const origin = `http://127.0.0.1:${port}`;
  const stream = server.hub.resolve(STREAM);
  if (!stream) throw new Error(`framehub has no stream ${STREAM}`);
  const tapped = new Map<number, Tapped>();
  const seqOf = new Map<string, number>();
  stream.on('frame', function streamOnFrame(frame: Frame) {
    const emittedAt = preciseNow();
    tapped.set(frame.seq, { capturedAt: frame.capturedAt, emittedAt });
    seqOf.set(`t${Math.round(frame.capturedAt)}`, frame.seq);
    seqOf.set(`f${fingerprint(frame.bytes)}`, frame.seq);
  });

  const rows: Row[] = [];
  let xvfb: XServer | undefined;
  try {
    for (const mode of modes) {
      if (mode === 'headed') xvfb = await startXvfb(1600, 1000);
      const browser = await chromium.launch({
        executablePath: CHROME_PATH,
        headless: mode === 'headless',
        // The bench page is answered by Playwright, not from 127.0.0.1, so Chromium's local
        // network access checks would refuse its sockets to framehub on 127.0.0.1.
        args: [...CHROMIUM_ARGS.filter((arg) => mode === 'headless' || arg !== '--headless'), '--disable-features=LocalNetworkAccessChecks'],
        ...(xvfb && { env: { ...process.env, DISPLAY: xvfb.display } }),
      });
      try {
        for (let round = 1; round <= rounds; round++) for (const route of routes) {
          for (const painter of painters) {
            log(`glass: ${mode}, round ${round}, ${route}, painter ${painter.label}: ${warmup} s warm-up, ${seconds} s measured …`);
            const settings = { seconds, warmup, fps, quality, painter, canvasCss };
            rows.push(route === 'viewer'
              ? await measureViewer(browser, origin, mode, settings)
              : await measureRoute(browser, origin, mode, route, settings, tapped, seqOf));
            tapped.clear();
            seqOf.clear();
          }
        }
      } finally {
        await browser.close();
        await xvfb?.stop();
        xvfb = undefined;
      }
    }
  } finally {
    await xvfb?.stop();
    await server.close();
  }
  const [l1, l5] = loadavg();
  console.log(report(rows, { seconds, fps, quality, canvasCss }));
  if (rounds > 1) console.log(`\n${summary(rows, rounds)}`);
  console.log(`\n${new Date().toISOString()}, load ${l1!.toFixed(1)} ${l5!.toFixed(1)} (1 and 5 min, end of run), Chromium ${CHROME_PATH}`);
}

interface Painter {
  label: string;
  /** Served as /frame-painter.js instead of web/'s. */
  source?: string;
}

interface Settings {
  seconds: number;
  warmup: number;
  fps: number;
  quality: number;
  painter: Painter;
  canvasCss: string;
}

async function newPage(browser: Browser, origin: string, painter: Painter): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  const source = painter.source;
  if (source !== undefined) await page.route(`${origin}/frame-painter.js`, (request) => request.fulfill({ contentType: 'text/javascript', body: source }));
  page.on('pageerror', (error) => log(`glass: page error: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error' || message.type() === 'warning') log(`glass: page console: ${message.text()}`); });
  return page;
}

async function measureRoute(
  browser: Browser, origin: string, mode: Mode, route: Exclude<Route, 'viewer'>, settings: Settings,
  tapped: Map<number, Tapped>, seqOf: Map<string, number>,
): Promise<Row> {
  const page = await newPage(browser, origin, settings.painter);
  // The bench page is served on framehub's own origin, so it loads the viewer's modules from it.
  await page.route(`${origin}${PAGE_PATH}*`, (request) => request.fulfill({ contentType: 'text/html', body: PAGE_HTML }));
  const reference = referenceClient(origin, route, settings);
  try {
    await page.goto(`${origin}${PAGE_PATH}?route=${route}&stream=${STREAM}&fps=${settings.fps}&quality=${settings.quality}&css=${encodeURIComponent(settings.canvasCss)}`);
    await page.waitForFunction(() => '__glass' in window, undefined, { timeout: 15_000 });
    await delay(settings.warmup * 1000);
    await page.evaluate(() => (window as unknown as { __glass: { reset(): void } }).__glass.reset());
    await page.evaluate(FRAME_PROBE);
    await delay(settings.seconds * 1000);
    const gaps = await frameGaps(page);
    const result = await page.evaluate(() => (window as unknown as { __glass: { stop(): PageResult } }).__glass.stop());
    return { ...rowOf(mode, route, settings.seconds, result, gaps, tapped, seqOf, reference.arrivals), painter: settings.painter.label };
  } finally {
    reference.close();
    await page.context().close();
  }
}

/** A Node client on the same route: when each frame (by seq) left framehub's socket. */
function referenceClient(origin: string, route: Exclude<Route, 'viewer'>, settings: Settings): { arrivals: Map<string, number>; close(): void } {
  const arrivals = new Map<string, number>();
  const ws = origin.replace('http', 'ws');
  if (route === 'socketio') {
    const socket: Socket = connectSocketIo(origin, { transports: ['websocket'], reconnection: false });
    socket.on('connect', () => {
      socket.emit('adaptive:toggle', { enabled: false });
      socket.emit('quality:set', { quality: settings.quality });
      socket.emit('fps:set', { fps: settings.fps });
      socket.emit('subscribe', { stream: STREAM });
    });
    socket.on('frame', (data: { timestamp: number }) => arrivals.set(`t${data.timestamp}`, preciseNow()));
    return { arrivals, close: () => socket.close() };
  }
  const url = route === 'stream'
    ? `${ws}/stream/${STREAM}?fps=${settings.fps}&quality=${settings.quality}&format=jpeg`
    : `${ws}/ws/video_feed?stream=${STREAM}&fps=${settings.fps}&quality=${settings.quality}`;
  const socket = new WebSocket(url);
  socket.on('error', (error) => log(`glass: reference client: ${error.message}`));
  socket.on('message', (data: RawData, binary) => {
    const at = preciseNow();
    const bytes = data as Buffer;
    if (route === 'video_feed') {
      if (binary) arrivals.set(`f${fingerprint(bytes)}`, at);
      return;
    }
    const message = JSON.parse(bytes.toString()) as { type: string; data?: { frame_number?: number } };
    if (message.type === 'frame' && message.data?.frame_number !== undefined) arrivals.set(`s${message.data.frame_number}`, at);
  });
  return { arrivals, close: () => socket.terminate() };
}

function frameGaps(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { __frameProbe: { gaps: number[] } }).__frameProbe.gaps);
}

function rowOf(
  mode: Mode, route: Route, seconds: number, result: PageResult, gaps: number[],
  tapped: Map<number, Tapped>, seqOf: Map<string, number>, reference: Map<string, number>,
): Row {
  const stages = Object.fromEntries(STAGES.map((s) => [s, [] as number[]])) as Record<Stage, number[]>;
  const arrival: number[] = [];
  const drawImage: number[] = [];
  const total: number[] = [];
  const prefix = route === 'stream' ? 's' : route === 'socketio' ? 't' : 'f';
  for (const record of result.records) {
    const key = `${prefix}${record.key}`;
    const seq = route === 'stream' ? Number(record.key) : seqOf.get(key);
    const frame = seq === undefined ? undefined : tapped.get(seq);
    if (!frame) continue;
    arrival.push(record.arrivedAt - frame.capturedAt);
    if (record.shownAt === undefined || record.decodedAt === undefined || record.drawnAt === undefined) continue;
    const left = reference.get(key);
    if (left === undefined) continue;
    stages.encode.push(frame.emittedAt - frame.capturedAt);
    stages.send.push(left - frame.emittedAt);
    stages.receive.push(record.arrivedAt - left);
    stages.decode.push(record.decodedAt - record.arrivedAt);
    stages.paint.push(record.shownAt - record.decodedAt);
    drawImage.push(record.drawnAt - frame.capturedAt);
    total.push(record.shownAt - frame.capturedAt);
  }
  return {
    mode, route, seconds, received: result.records.length, drawn: result.drawn, skipped: result.skipped,
    ...(result.skippedUndecoded !== undefined && { skippedUndecoded: result.skippedUndecoded, skippedUndrawn: result.skippedUndrawn }),
    frameGaps: gaps, stages, arrival, drawImage, total,
  };
}

/** The viewer at / itself, as a user opens it: frames received, drawn and skipped from its own counters. */
async function measureViewer(browser: Browser, origin: string, mode: Mode, settings: Settings): Promise<Row> {
  const page = await newPage(browser, origin, settings.painter);
  try {
    await page.goto(`${origin}/?stream=${STREAM}&fps=${settings.fps}&quality=${settings.quality}&format=jpeg&connect=1`);
    await page.waitForSelector('#connection-state[data-state="connected"]', { timeout: 15_000 });
    await delay(settings.warmup * 1000);
    await page.click('#reset-button');
    await page.evaluate(FRAME_PROBE);
    await delay(settings.seconds * 1000);
    const gaps = await frameGaps(page);
    // The counters are rendered every 250 ms; read them together, after one more render.
    await delay(300);
    const stat = (id: string) => page.getAttribute(`#${id}`, 'data-value').then(Number);
    const [received, drawn, skipped, latency] = await Promise.all([stat('stat-frames'), stat('stat-drawn'), stat('stat-skipped'), stat('stat-latency')]);
    return { mode, route: 'viewer', painter: settings.painter.label, seconds: settings.seconds, received, drawn, skipped, frameGaps: gaps, viewerLatency: latency };
  } finally {
    await page.context().close();
  }
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const p = (values: number[] | undefined, q: number) => f1(percentile(ascending(values ?? []), q));
const ROUTE_LABEL: Record<Route, string> = {
  stream: '/stream/:id (JSON, data URL)',
  video_feed: '/ws/video_feed (binary JPEG)',
  socketio: 'Socket.IO subscribe {stream}',
  viewer: 'the viewer at / (its own counters)',
};

function report(rows: Row[], settings: { seconds: number; fps: number; quality: number; canvasCss: string }): string {
  const lines = [
    `# glass to glass: ${WIDTH}x${HEIGHT} demo pattern at ${settings.fps} fps, JPEG q${settings.quality}, ${settings.seconds} s per page`
      + `, bench page canvas ${settings.canvasCss ? `styled "${settings.canvasCss}"` : 'at 1:1'}`,
    '',
    '| mode | route | painter | received (fps) | drawn / skipped (undecoded + undrawn) | animation frames/s, gap p95 ms, gaps > 25 ms | capture → arrival p50 / p95 ms | capture → drawImage p50 / p95 | capture → drawn (next frame) p50 / p95 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const tail = r.route === 'viewer'
      ? `- | - | latest ${f1(r.viewerLatency ?? NaN)} (its own figure) |`
      : `${p(r.arrival, 50)} / ${p(r.arrival, 95)} | ${p(r.drawImage, 50)} / ${p(r.drawImage, 95)} | ${p(r.total, 50)} / ${p(r.total, 95)} |`;
    const split = r.skippedUndecoded === undefined ? '' : ` (${r.skippedUndecoded} + ${r.skippedUndrawn})`;
    const gaps = `${f1(r.frameGaps.length / r.seconds)}, ${p(r.frameGaps, 95)}, ${r.frameGaps.filter((g) => g > 25).length}`;
    lines.push(`| ${r.mode} | ${ROUTE_LABEL[r.route]} | ${r.painter ?? ''} | ${r.received} (${f1(r.received / r.seconds)}) | ${r.drawn} / ${r.skipped}${split} | ${gaps} | ${tail}`);
  }
  lines.push('', 'Stages of the frames drawn, p50 / p95 ms (share of the mean capture → drawn):', '',
    `| mode | route | painter | ${STAGES.join(' | ')} |`, `| --- | --- | --- | ${STAGES.map(() => '---').join(' | ')} |`);
  for (const r of rows) {
    if (!r.stages || r.stages.encode.length === 0) continue;
    const sum = STAGES.reduce((acc, s) => acc + mean(r.stages![s]), 0);
    const cells = STAGES.map((s) => `${p(r.stages![s], 50)} / ${p(r.stages![s], 95)} (${f1((mean(r.stages![s]) / sum) * 100)} %)`);
    lines.push(`| ${r.mode} | ${r.route} | ${r.painter ?? ''} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'encode: capture → the source emitted the JPEG (the pattern renders and encodes); send: → a Node client on the same route read it;',
    "receive: → the page's message handler; decode: → createImageBitmap resolved (a decode in progress included);",
    'paint: → the animation frame after the one that drew it. receive is the difference of two clients on one machine, so a frame can show a small negative.');
  return lines.join('\n');
}

/** Per mode, route and painter: the median over rounds of the figures to quote. */
function summary(rows: Row[], rounds: number): string {
  const lines = [
    `## over ${rounds} rounds (medians of the rounds)`, '',
    '| mode | route | painter | drawn ÷ received | animation frames/s | capture → arrival p50 | capture → drawn (next frame) p50 / p95 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.mode}|${r.route}|${r.painter ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const med = (values: number[]) => f1(median(ascending(values.filter(Number.isFinite))));
  for (const group of groups.values()) {
    const r = group[0]!;
    const share = med(group.map((g) => (g.drawn / g.received) * 100));
    const p50 = (pick: (g: Row) => number[] | undefined, q = 50) => med(group.map((g) => percentile(ascending(pick(g) ?? []), q)));
    lines.push(`| ${r.mode} | ${r.route} | ${r.painter ?? ''} | ${share} % | ${med(group.map((g) => g.frameGaps.length / g.seconds))} | ${p50((g) => g.arrival)} | ${p50((g) => g.total)} / ${p50((g) => g.total, 95)} |`);
  }
  return lines.join('\n');
}

function list<T extends string>(raw: string | undefined, known: readonly T[], name: string): T[] {
  if (raw === undefined) return [...known];
  const chosen = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of chosen) if (!known.includes(item as T)) throw new Error(`--${name}: unknown ${item} (known: ${known.join(', ')})`);
  return chosen as T[];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
