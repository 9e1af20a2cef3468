// Kill-loop benchmark (issue 13, point 5): with viewers attached, kill ffmpeg (SIGKILL) and
// Chromium (page crashes and SIGKILL of the browser process) over and over, and measure for each
// kill the time from the kill to the next frame of the new source delivered to the viewers.
// framehub runs in this process (createServer, real routes): the bench needs the pids of the
// sources it kills and the sequence number the stream had reached when its source died; the
// viewers speak to it over real sockets on 127.0.0.1 all the same.
//
//   npm run bench -- --scenario kill [--ffmpeg-kills 100] [--chromium-kills 20] [--viewers 3]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { WebSocket, type RawData } from 'ws';
import { io as connect, type Socket } from 'socket.io-client';
import { loadConfig } from '../src/config/config.js';
import { createServer, type FramehubServer } from '../src/server/create-server.js';
import type { Stream } from '../src/hub/stream.js';
import type { FfmpegSource } from '../src/sources/ffmpeg-source.js';
import { startPageServer, type PageServer } from '../test/session-helpers.js';
import { ascending, median, percentile } from './percentiles.js';
import { numberOption } from './bench-options.js';

const HELP = `Usage: npm run bench -- --scenario kill [options]

Kills sources in a loop while viewers watch and reports, per kind of kill, how long the viewers
went without a frame: from the kill to the first frame of the restarted source at every viewer.

  --ffmpeg-kills <n>     SIGKILLs of ffmpeg, alternating over two lavfi streams (default 100)
  --chromium-kills <n>   Chromium kills, alternating page crash (CDP Page.crash) and SIGKILL of
                         the browser process (default 20)
  --viewers <n>          viewers per stream and per session (default 3)
  --settle <ms>          frames must flow this long before the next ffmpeg kill (default 300)
  --chromium-settle <ms> and before the next Chromium kill (default 3000: the pool warms its
                         standby browser and spare pages again 1 s after a kill)
  --timeout <s>          a kill not recovered within this is a failure (default 15)
  -h, --help             show this help
`;

interface KillOptions {
  ffmpegKills: number;
  chromiumKills: number;
  viewers: number;
  settleMs: number;
  chromiumSettleMs: number;
  timeoutMs: number;
}

function parseKillOptions(argv: string[]): KillOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string' }, 'ffmpeg-kills': { type: 'string' }, 'chromium-kills': { type: 'string' },
      viewers: { type: 'string' }, settle: { type: 'string' }, 'chromium-settle': { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number => numberOption(name, raw, fallback, min, max, true);
  return {
    ffmpegKills: int('ffmpeg-kills', values['ffmpeg-kills'], 100, 0, 10_000),
    chromiumKills: int('chromium-kills', values['chromium-kills'], 20, 0, 1000),
    viewers: int('viewers', values.viewers, 3, 1, 100),
    settleMs: int('settle', values.settle, 300, 0, 60_000),
    chromiumSettleMs: int('chromium-settle', values['chromium-settle'], 3000, 0, 60_000),
    timeoutMs: int('timeout', values.timeout, 15, 1, 600) * 1000,
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** One viewer: the frames it got (number or capture time) and whether its connection dropped. */
interface Viewer {
  /** Resolves when a frame passing `after` arrives; with the arrival time (performance.now()). */
  frameAfter(after: (mark: number) => boolean): Promise<number>;
  notices: number;
  disconnects: number;
  close(): void;
}

/** A viewer of `/stream/<id>` (seeds/002 JSON); a frame's mark is its frame_number. */
async function streamViewer(origin: string, id: string): Promise<Viewer> {
  const ws = new WebSocket(`${origin}/stream/${id}?fps=15&quality=70`);
  let waiters: { after: (mark: number) => boolean; resolve: (at: number) => void }[] = [];
  let closing = false;
  const viewer: Viewer = {
    notices: 0,
    disconnects: 0,
    frameAfter: (after) => new Promise((resolve) => waiters.push({ after, resolve })),
    close: () => {
      closing = true;
      ws.close();
    },
  };
  ws.on('message', function viewerOnMessage(data: RawData) {
    const at = performance.now();
    const message = JSON.parse(data.toString()) as { type: string; data?: { frame_number: number } };
    if (message.type === 'status' || message.type === 'error') viewer.notices++;
    if (message.type !== 'frame') return;
    const mark = message.data!.frame_number;
    waiters = waiters.filter((w) => {
      if (!w.after(mark)) return true;
      w.resolve(at);
      return false;
    });
  });
  ws.on('close', function viewerOnClose() {
    if (!closing) viewer.disconnects++;
  });
  ws.on('error', function viewerOnError(error) {
    log(`viewer of ${id}: ${error.message}`);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return viewer;
}

/** A Socket.IO viewer of a session (seeds/003); a frame's mark is its capture time (ms since the epoch). */
async function sessionViewer(origin: string, sessionId: string): Promise<Viewer> {
  const socket: Socket = connect(origin, { reconnection: false, transports: ['websocket'] });
  let waiters: { after: (mark: number) => boolean; resolve: (at: number) => void }[] = [];
  let closing = false;
  const viewer: Viewer = {
    notices: 0,
    disconnects: 0,
    frameAfter: (after) => new Promise((resolve) => waiters.push({ after, resolve })),
    close: () => {
      closing = true;
      socket.disconnect();
    },
  };
  socket.on('frame', function viewerOnFrame(frame: { timestamp: number }) {
    const at = performance.now();
    waiters = waiters.filter((w) => {
      if (!w.after(frame.timestamp)) return true;
      w.resolve(at);
      return false;
    });
  });
  socket.on('status', function viewerOnStatus() {
    viewer.notices++;
  });
  socket.on('error', function viewerOnError() {
    viewer.notices++;
  });
  socket.on('disconnect', function viewerOnDisconnect() {
    if (!closing) viewer.disconnects++;
  });
  const subscribed = new Promise<void>((resolve) => socket.once('subscribed', () => resolve()));
  socket.emit('subscribe', { session_id: sessionId });
  await subscribed;
  return viewer;
}

function timeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Time from `killedAt` until every viewer has a frame that passes `after`, or undefined past the timeout. */
async function recovery(viewers: Viewer[], after: (mark: number) => boolean, killedAt: number, timeoutMs: number): Promise<number | undefined> {
  const arrivals = await timeout(Promise.all(viewers.map((v) => v.frameAfter(after))), timeoutMs);
  return arrivals && Math.max(...arrivals) - killedAt;
}

interface KindResult {
  kind: string;
  samples: number[];
  failures: number;
}

function summary(result: KindResult): string {
  const s = ascending(result.samples);
  if (s.length === 0) return `| ${result.kind} | 0 | - | - | - | ${result.failures} |`;
  const ms = (v: number) => `${Math.round(v)} ms`;
  return `| ${result.kind} | ${s.length} | ${ms(median(s))} | ${ms(percentile(s, 95))} | ${ms(s[s.length - 1]!)} | ${result.failures} |`;
}

/** Resolves with `mark()` taken when `stream` notices its source is gone (undefined past the timeout). */
function sourceLost(stream: Stream, mark: () => number, ms: number): Promise<number | undefined> {
  let listener: (change: { newState: string }) => void;
  const lost = new Promise<number>((resolve) => {
    listener = ({ newState }) => {
      if (newState !== 'running' && newState !== 'starting') resolve(mark());
    };
    stream.on('state:change', listener);
  });
  return timeout(lost, ms).finally(() => stream.off('state:change', listener));
}

/** Waits until every viewer has a frame newer than now: the source runs and frames reach everybody. */
async function flowing(viewers: Viewer[], markNow: () => number, ms: number): Promise<void> {
  const mark = markNow();
  const ok = await timeout(Promise.all(viewers.map((v) => v.frameAfter((m) => m > mark))), ms);
  if (!ok) throw new Error('frames are not flowing to every viewer');
}

async function killFfmpeg(server: FramehubServer, viewersOf: Map<string, Viewer[]>, options: KillOptions): Promise<KindResult> {
  const result: KindResult = { kind: 'ffmpeg SIGKILL', samples: [], failures: 0 };
  const ids = [...viewersOf.keys()];
  for (let i = 0; i < options.ffmpegKills; i++) {
    const id = ids[i % ids.length]!;
    const stream = server.hub.resolve(id)!;
    const viewers = viewersOf.get(id)!;
    await flowing(viewers, () => stream.stats().framesIn, options.timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    const pid = (stream.source as FfmpegSource).pid;
    if (pid === undefined) throw new Error(`stream ${id} has no ffmpeg`);
    // Frames still in the pipe of the dead ffmpeg get numbers too: the new process's first
    // frame is the first one numbered after the stream noticed the exit.
    const died = sourceLost(stream, () => stream.stats().framesIn, options.timeoutMs);
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const boundary = await died;
    const ms = boundary === undefined ? undefined : await recovery(viewers, (m) => m > boundary, killedAt, options.timeoutMs);
    if (ms === undefined) result.failures++;
    else result.samples.push(ms);
    if ((i + 1) % 10 === 0) log(`ffmpeg: ${i + 1} of ${options.ffmpegKills} kills, last ${ms === undefined ? 'FAILED' : `${Math.round(ms)} ms`}`);
  }
  return result;
}

async function killChromium(server: FramehubServer, viewersOf: Map<string, Viewer[]>, options: KillOptions): Promise<KindResult[]> {
  const crash: KindResult = { kind: 'Chromium page crash', samples: [], failures: 0 };
  const kill: KindResult = { kind: 'Chromium SIGKILL (per session)', samples: [], failures: 0 };
  const ids = [...viewersOf.keys()];
  for (let i = 0; i < options.chromiumKills; i++) {
    const all = ids.flatMap((id) => viewersOf.get(id)!);
    await flowing(all, () => Date.now(), options.timeoutMs).catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, options.chromiumSettleMs));
    const pageCrash = i % 2 === 0;
    const victims = pageCrash ? [ids[(i / 2) % ids.length]!] : ids;
    // Chromium stamps frames with the time it composited them: a frame stamped after its stream
    // noticed the loss comes from the new page (the old one may paint a little after the kill
    // was asked for: a crash takes effect when the renderer gets to it).
    const lost = victims.map((id) => sourceLost(server.sessions.get(id)!.stream, () => Date.now(), options.timeoutMs));
    const { cdp } = await server.sessions.get(victims[0]!)!.page();
    const pid = pageCrash ? undefined : await server.sessions.pool.pid();
    if (!pageCrash && pid === undefined) throw new Error('no browser process');
    const killedAt = performance.now();
    if (pid === undefined) void cdp.send('Page.crash').catch(() => {});
    else process.kill(pid, 'SIGKILL');
    const results = await Promise.all(victims.map(async (id, n) => {
      const wallAtLoss = await lost[n]!;
      return wallAtLoss === undefined ? undefined : recovery(viewersOf.get(id)!, (m) => m > wallAtLoss, killedAt, options.timeoutMs);
    }));
    for (const ms of results) {
      const target = pageCrash ? crash : kill;
      if (ms === undefined) target.failures++;
      else target.samples.push(ms);
    }
    log(`chromium: ${i + 1} of ${options.chromiumKills} (${pageCrash ? 'page crash' : 'SIGKILL'}): ${results.map((ms) => (ms === undefined ? 'FAILED' : `${Math.round(ms)} ms`)).join(', ')}`);
  }
  return [crash, kill];
}

/** The kill scenario of `npm run bench`; `argv` are the bench's own arguments. */
export async function runKillBench(argv: string[]): Promise<void> {
  let options: KillOptions;
  try {
    options = parseKillOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  // Every kill has its own timeout; this bounds the whole run as well, whatever hangs.
  const boundMs = (options.ffmpegKills + options.chromiumKills) * (options.timeoutMs + Math.max(options.settleMs, options.chromiumSettleMs) + 1000) + 120_000;
  const watchdog = setTimeout(() => {
    log(`bench: the kill scenario did not finish within ${Math.round(boundMs / 1000)} s; giving up`);
    process.exit(1);
  }, boundMs);
  watchdog.unref();

  const pages: PageServer = await startPageServer();
  const config = loadConfig({
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      browserAllowHosts: '127.0.0.1',
      streams: {
        cam1: { source: 'video', lavfi: 'testsrc2=size=640x360:rate=15', fps: 15, quality: 70 },
        cam2: { source: 'video', lavfi: 'testsrc2=size=640x360:rate=15', fps: 15, quality: 70 },
      },
    },
  });
  const server = await createServer(config);
  const { port } = await server.listen();
  const http = `http://127.0.0.1:${port}`;
  const ws = `ws://127.0.0.1:${port}`;
  const viewers: Viewer[] = [];
  const ffmpegViewers = new Map<string, Viewer[]>();
  const sessionViewers = new Map<string, Viewer[]>();
  const notices = new Map<string, number>();
  let disconnects = 0;
  try {
    for (const id of ['cam1', 'cam2']) {
      const list = await Promise.all(Array.from({ length: options.viewers }, () => streamViewer(ws, id)));
      ffmpegViewers.set(id, list);
      viewers.push(...list);
    }
    const started = performance.now();
    const results: KindResult[] = [];
    if (options.ffmpegKills > 0) results.push(await killFfmpeg(server, ffmpegViewers, options));
    for (const [id, list] of ffmpegViewers) {
      notices.set(id, list.reduce((n, v) => n + v.notices, 0));
      disconnects += list.reduce((n, v) => n + v.disconnects, 0);
      // Their streams stop: the Chromium kills are measured without this process also serving them.
      for (const viewer of list) viewer.close();
    }
    if (options.chromiumKills > 0) {
      // Sessions open only now, so their Chromium does not load the machine during the ffmpeg kills.
      // One static page (a single paint: the first frame after the restart is all there is) and
      // one animated page.
      for (const [id, path] of [['static', '/'], ['animated', '/animated']] as const) {
        const created = await fetch(`${http}/api/session/create`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: id, width: 640, height: 360, fps: 10 }),
        });
        if (created.status !== 201) throw new Error(`session create: ${created.status} ${await created.text()}`);
        const loaded = await fetch(`${http}/api/session/${id}/load`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${pages.origin}${path}` }),
        });
        if (loaded.status !== 200) throw new Error(`session load: ${loaded.status} ${await loaded.text()}`);
        const list = await Promise.all(Array.from({ length: options.viewers }, () => sessionViewer(http, id)));
        sessionViewers.set(id, list);
        viewers.push(...list);
      }
      results.push(...await killChromium(server, sessionViewers, options));
    }
    const seconds = (performance.now() - started) / 1000;
    for (const [id, list] of sessionViewers) {
      notices.set(id, list.reduce((n, v) => n + v.notices, 0));
      disconnects += list.reduce((n, v) => n + v.disconnects, 0);
    }

    console.log(`# framehub kill loop, ${new Date().toISOString()}`);
    console.log(`options: ${JSON.stringify(options)}; ${seconds.toFixed(0)} s\n`);
    console.log('Time from the kill to the first frame of the restarted source at every viewer of it:\n');
    console.log('| kill | recovered | median | p95 | max | not recovered |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const result of results) console.log(summary(result));
    console.log('');
    console.log(`- viewers: ${viewers.length}, disconnected during the run: ${disconnects}; load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (${cpus().length} cores)`);
    console.log(`- notices (status/error messages) received: ${[...notices].map(([id, n]) => `${id} ${n}`).join(', ')}`);
    if (disconnects > 0 || results.some((r) => r.failures > 0)) process.exitCode = 1;
  } finally {
    for (const viewer of viewers) viewer.close();
    await server.close();
    await pages.close();
  }
}
