// Browser-session benchmark (issue 4, point 7; issue 20, point 4): delivered fps of an animated
// 1280x720 page to 1, 10 and 100 Socket.IO viewers, with capture → received (p50, p95) and
// Chromium's CPU by process type (browser, GPU, renderer); click → first frame showing the
// change (p50, p95) with 1, 10 and 100 viewers watching; CPU and memory per session. framehub
// runs in its own process (with its Chromium below it), so its CPU and memory are read from
// /proc apart from the viewers'.
//
//   npm run bench:sessions [-- --seconds 8 --viewers 1,10,100 --clicks 40 --sessions 3]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { io as connect, type Socket } from 'socket.io-client';
import { startPageServer, type PageServer } from '../test/session-helpers.js';
import { chromiumTicks, cpuSeconds, type CpuTicks } from './chromium-cpu.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    viewers: { type: 'string', default: '1,10,100' },
    clicks: { type: 'string', default: '40' },
    sessions: { type: 'string', default: '3' },
  },
});
const SECONDS = Number(values.seconds);
const VIEWER_COUNTS = values.viewers!.split(',').map(Number);
const CLICKS = Number(values.clicks);
const SESSIONS = Number(values.sessions);
const CLK_TCK = 100; // USER_HZ on Linux

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

/** framehub from source in a child process. */
async function startFramehub(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [
    '--import', 'tsx', '--input-type=module', '-e',
    "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(process.argv.slice(1));",
    'serve', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn',
  ], {
    env: { ...process.env, BROWSER_ALLOW_HOSTS: '127.0.0.1', MAX_SESSIONS: '20', MAX_SESSIONS_PER_IP: '20', IDLE_GRACE: '1',
      // 100 viewers from one address: above the default cap of 64 connections per address.
      MAX_CONNECTIONS_PER_IP: '1000' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill();
  throw new Error('framehub did not start');
}

/** The process and all its descendants (Chromium runs below framehub). */
function tree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  return out;
}

interface Usage { cpuTicks: number; pssKiB: number; chromiumProcesses: number }

function usage(root: number, nodePid: number): { server: Usage; chromium: Usage } {
  const result = { server: { cpuTicks: 0, pssKiB: 0, chromiumProcesses: 0 }, chromium: { cpuTicks: 0, pssKiB: 0, chromiumProcesses: 0 } };
  for (const pid of tree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      // PSS, not RSS: Chromium's processes share most of their pages.
      const pss = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      const bucket = pid === nodePid || pid === root ? result.server : result.chromium;
      bucket.cpuTicks += ticks;
      bucket.pssKiB += pss;
      if (bucket === result.chromium) bucket.chromiumProcesses++;
    } catch {
      // exited meanwhile
    }
  }
  return result;
}

/** CPU (cores) and PSS (MiB) over `seconds`, framehub's node process apart from Chromium. */
async function measure(root: number, seconds: number): Promise<{ serverCores: number; chromiumCores: number; serverMiB: number; chromiumMiB: number; byType: CpuTicks }> {
  const before = usage(root, root);
  const typedBefore = chromiumTicks(root);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = usage(root, root);
  const byType = cpuSeconds(typedBefore, chromiumTicks(root));
  for (const type of Object.keys(byType) as (keyof CpuTicks)[]) byType[type] /= seconds;
  return {
    byType,
    serverCores: (after.server.cpuTicks - before.server.cpuTicks) / CLK_TCK / seconds,
    chromiumCores: Object.values(byType).reduce((a, b) => a + b, 0),
    serverMiB: after.server.pssKiB / 1024,
    chromiumMiB: after.chromium.pssKiB / 1024,
  };
}

async function post(base: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(data)}`);
  return data;
}

async function session(base: string, url: string, extra: Record<string, unknown> = {}): Promise<string> {
  const { session_id } = await post(base, '/api/session/create', { width: 1280, height: 720, quality: 80, fps: 30, ...extra });
  await post(base, `/api/session/${session_id}/load`, { url });
  return session_id;
}

async function sessionInfo(base: string, id: string): Promise<{ source_fps: number }> {
  const { sessions } = await (await fetch(`${base}/api/sessions`)).json() as { sessions: { session_id: string; source_fps: number }[] };
  return sessions.find((s) => s.session_id === id)!;
}

/** Capture → received delays (ms) of every viewer's frames while `recording.on`. */
const recording = { on: false, delays: [] as number[] };

/** A Socket.IO viewer with manual q80/30 fps (adaptive off), counting frames. */
async function viewer(base: string, id: string): Promise<{ socket: Socket; frames: () => number }> {
  const socket = connect(base, { transports: ['websocket'], reconnection: false, forceNew: true });
  let frames = 0;
  socket.on('frame', (data: { timestamp: number }) => {
    frames++;
    // timestamp: when Chromium composited the frame; the same clock (one machine).
    if (recording.on) recording.delays.push(Date.now() - data.timestamp);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('subscribed', () => resolve());
    socket.once('connect_error', reject);
    socket.emit('quality:set', { quality: 80 });
    socket.emit('fps:set', { fps: 30 });
    socket.emit('subscribe', { session_id: id });
  });
  return { socket, frames: () => frames };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** JPEG noise aside, a different colour. */
function differs(a: string, b: string): boolean {
  const x = a.split(',').map(Number);
  const y = b.split(',').map(Number);
  return x.some((v, i) => Math.abs(v - y[i]!) > 60);
}

async function centrePixel(image: string): Promise<number[]> {
  const { data } = await sharp(Buffer.from(image, 'base64')).extract({ left: 600, top: 300, width: 1, height: 1 }).raw().toBuffer({ resolveWithObject: true });
  return [...data];
}

async function main(): Promise<void> {
  const pages: PageServer = await startPageServer();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = await startFramehub(port);
  // Even when the bench dies of an uncaught error, framehub (and its Chromium) stop with it.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  const root = child.pid!;
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    console.log(line);
  };
  try {
    log(`# Browser sessions benchmark (${new Date().toISOString()}, ${SECONDS} s per point, load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);

    // 1. Delivered fps of an animated 1280x720 page to N Socket.IO viewers.
    const animated = await session(base, `${pages.origin}/animated`);
    log('\n| viewers | Chromium fps (source) | mean delivered fps | min fps | capture → received p50 / p95 ms | framehub CPU (cores) | Chromium CPU (cores) | browser | GPU | renderer | other |');
    log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const n of VIEWER_COUNTS) {
      const viewers = await Promise.all(Array.from({ length: n }, () => viewer(base, animated)));
      await new Promise((resolve) => setTimeout(resolve, 1500)); // let the screencast settle
      const start = viewers.map((v) => v.frames());
      const sourceFps: number[] = [];
      const sampler = setInterval(() => void sessionInfo(base, animated).then((s) => sourceFps.push(s.source_fps)), 1000);
      recording.delays = [];
      recording.on = true;
      const cpu = await measure(root, SECONDS);
      recording.on = false;
      clearInterval(sampler);
      const fps = viewers.map((v, i) => (v.frames() - start[i]!) / SECONDS);
      const delays = recording.delays.sort((a, b) => a - b);
      const t = cpu.byType;
      log(`| ${n} | ${(sourceFps.reduce((a, b) => a + b, 0) / Math.max(1, sourceFps.length)).toFixed(1)} | ${(fps.reduce((a, b) => a + b, 0) / n).toFixed(1)} | ${Math.min(...fps).toFixed(1)} | ${percentile(delays, 50).toFixed(0)} / ${percentile(delays, 95).toFixed(0)} | ${cpu.serverCores.toFixed(2)} | ${cpu.chromiumCores.toFixed(2)} | ${t.browser.toFixed(2)} | ${t.gpu.toFixed(2)} | ${t.renderer.toFixed(2)} | ${t.other.toFixed(2)} |`);
      for (const v of viewers) v.socket.disconnect();
    }
    await fetch(`${base}/api/session/${animated}`, { method: 'DELETE' });

    // 2. Click → first frame showing the change, on a static page, with N viewers watching
    // (the first one clicks and times it).
    const clicky = await session(base, `${pages.origin}/`);
    log('\n| viewers | clicks | click → changed frame p50 ms | p95 ms | max ms |');
    log('| ---: | ---: | ---: | ---: | ---: |');
    for (const n of VIEWER_COUNTS) {
      const watchers = await Promise.all(Array.from({ length: n }, () => viewer(base, clicky)));
      const socket = watchers[0]!.socket;
      const latencies: number[] = [];
      // The page is static: learn its colour once, then every click toggles it.
      const shot = await fetch(`${base}/api/session/${clicky}/frame`);
      const first = await sharp(Buffer.from(await shot.arrayBuffer())).extract({ left: 600, top: 300, width: 1, height: 1 }).removeAlpha().raw().toBuffer();
      let colour = [...first].join(',');
      for (let i = 0; i < CLICKS; i++) {
        const changed = new Promise<number>((resolve) => {
          const onFrame = async (data: { image: string }) => {
            const arrived = performance.now();
            const pixel = (await centrePixel(data.image)).join(',');
            if (!differs(pixel, colour)) return;
            socket.off('frame', onFrame);
            colour = pixel;
            resolve(arrived);
          };
          socket.on('frame', onFrame);
        });
        const sent = performance.now();
        socket.emit('input:click', { x: 640, y: 360 });
        latencies.push((await changed) - sent);
      }
      for (const w of watchers) w.socket.disconnect();
      latencies.sort((a, b) => a - b);
      log(`| ${n} | ${CLICKS} | ${percentile(latencies, 50).toFixed(1)} | ${percentile(latencies, 95).toFixed(1)} | ${latencies.at(-1)!.toFixed(1)} |`);
    }
    await fetch(`${base}/api/session/${clicky}`, { method: 'DELETE' });

    // 3. CPU and memory per session: idle baseline, then static and animated sessions with one viewer each.
    log('\n| state | framehub CPU | Chromium CPU | framehub PSS MiB | Chromium PSS MiB |');
    log('| --- | ---: | ---: | ---: | ---: |');
    const row = (label: string, m: Awaited<ReturnType<typeof measure>>) =>
      log(`| ${label} | ${m.serverCores.toFixed(2)} | ${m.chromiumCores.toFixed(2)} | ${m.serverMiB.toFixed(0)} | ${m.chromiumMiB.toFixed(0)} |`);
    const idle = await measure(root, 3);
    row('browser up, no session', idle);
    const held: { id: string; socket?: Socket }[] = [];
    for (let i = 1; i <= SESSIONS; i++) {
      const id = await session(base, `${pages.origin}/`);
      held.push({ id, socket: (await viewer(base, id)).socket });
    }
    row(`${SESSIONS} static sessions, 1 viewer each`, await measure(root, SECONDS));
    for (let i = 1; i <= SESSIONS; i++) {
      const id = await session(base, `${pages.origin}/animated`);
      held.push({ id, socket: (await viewer(base, id)).socket });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      row(`+ ${i} animated 1280x720 session(s), 1 viewer each`, await measure(root, SECONDS));
    }
    for (const h of held) {
      h.socket?.disconnect();
      await fetch(`${base}/api/session/${h.id}`, { method: 'DELETE' });
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await pages.close();
  }
}

await main();
