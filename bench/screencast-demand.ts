// Chromium's CPU for a browser session whose viewers all watch a smaller variant than the
// session's own (a 640-wide one at quality 50 by default), and the gap in the session's frames
// when a full-size viewer joins and after it leaves (the screencast restarts at the new size).
// Run the same file from two trees to compare them; framehub runs in this process, the viewers
// are `ws` clients of /ws/video_feed here too, Chromium below it (its CPU read from /proc).
//
//   node --import tsx bench/screencast-demand.ts [--viewers 100 --seconds 10 --warmup 8 --width 640 --quality 50]
import { parseArgs } from 'node:util';
import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { loadConfig } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import type { Frame } from '../src/sources/frame.js';
import { chromiumTicks, cpuSeconds, totalOf } from './chromium-cpu.js';
import { SESSION_PAGE } from './session-page.js';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '8' },
    width: { type: 'string', default: '640' },
    quality: { type: 'string', default: '50' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('Usage: node --import tsx bench/screencast-demand.ts [--viewers 100] [--seconds 10] [--warmup 8] [--width 640] [--quality 50]');
  process.exit(0);
}
const VIEWERS = Number(values.viewers);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const WIDTH = Number(values.width);
const HEIGHT = Math.round((WIDTH * 720) / 1280);
const QUALITY = Number(values.quality);

const page = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(SESSION_PAGE));
page.listen(0, '127.0.0.1');
await once(page, 'listening');
const pagePort = (page.address() as { port: number }).port;
const config = loadConfig({
  overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', browserAllowHosts: '127.0.0.1', maxConnectionsPerIp: 10_000, maxClients: 10_000, maxClientsPerIp: 10_000, idleGrace: 1 },
});
const server = await createServer(config);
const { port } = await server.listen();
const base = `http://127.0.0.1:${port}`;

async function post(path: string, body: unknown): Promise<any> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const { session_id: id } = await post('/api/session/create', { width: 1280, height: 720, quality: 80, fps: 30 });
await post(`/api/session/${id}/load`, { url: `http://127.0.0.1:${pagePort}/` });
const session = server.sessions.get(id)!;
const stream = session.stream;
/** Arrival (performance.now) and width of the session's frames. */
const arrivals: { at: number; width: number }[] = [];
stream.on('frame', (frame: Frame) => arrivals.push({ at: performance.now(), width: frame.width }));

let messages = 0;
let bytes = 0;
async function viewer(quality: number, resize?: [number, number]): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/video_feed?stream=session:${id}&quality=${quality}`);
  ws.on('error', () => {});
  await once(ws, 'open');
  if (resize) ws.send(JSON.stringify({ type: 'config', resize }));
  return ws;
}
const viewers: WebSocket[] = [];
for (let i = 0; i < VIEWERS; i++) {
  const ws = await viewer(QUALITY, [WIDTH, HEIGHT]);
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary) return;
    messages++;
    bytes += data.length;
  });
  viewers.push(ws);
}
await new Promise((resolve) => setTimeout(resolve, WARMUP * 1000));

const before = { ticks: chromiumTicks(process.pid), messages, bytes, encodes: stream.variants.encodes, frames: arrivals.length, cpu: process.cpuUsage() };
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
const byType = cpuSeconds(before.ticks, chromiumTicks(process.pid));
const cpu = process.cpuUsage(before.cpu);
const window = arrivals.slice(before.frames);
const result = {
  viewers: VIEWERS,
  variant: `${WIDTH}x${HEIGHT} q${QUALITY}`,
  chromiumCores: totalOf(byType) / SECONDS,
  byType: Object.fromEntries(Object.entries(byType).map(([type, s]) => [type, s / SECONDS])),
  framehubCores: (cpu.user + cpu.system) / 1e6 / SECONDS,
  sessionFps: window.length / SECONDS,
  frameWidths: [...new Set(window.map((f) => f.width))],
  viewerFps: (messages - before.messages) / VIEWERS / SECONDS,
  bytesPerFrame: Math.round((bytes - before.bytes) / Math.max(1, messages - before.messages)),
  encodesPerSecond: (stream.variants.encodes - before.encodes) / SECONDS,
  load: loadavg()[0],
};

/** Longest time between two of the session's frames from `from` on, over `ms`. */
async function longestGap(from: number, ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const times = arrivals.filter((f) => f.at >= from - 200).map((f) => f.at);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

// A full-size viewer joins: how long until full-size frames, and the longest gap meanwhile.
const joinedAt = performance.now();
const full = await viewer(80);
const gapUp = await longestGap(joinedAt, 2000);
const firstFull = arrivals.find((f) => f.at >= joinedAt && f.width === 1280);
full.close();
const leftAt = performance.now();
const gapDown = await longestGap(leftAt, 8000);
const firstSmall = arrivals.find((f) => f.at >= leftAt && f.width < 1280);
const transitions = {
  fullFrameAfterMs: firstFull ? Math.round(firstFull.at - joinedAt) : null,
  longestGapUpMs: Math.round(gapUp),
  smallFrameAfterLeaveMs: firstSmall ? Math.round(firstSmall.at - leftAt) : null,
  longestGapDownMs: Math.round(gapDown),
  framePeriodMs: Math.round(1000 / Math.max(1, result.sessionFps)),
};
console.log(JSON.stringify({ ...result, ...transitions }));
for (const ws of viewers) ws.close();
await server.close();
page.close();
process.exit(0);
