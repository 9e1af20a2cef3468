import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { MixedViewers, viewersFor, type Viewers } from './viewers.js';
import { ServerProcess, type ServerKind } from './server-process.js';
import { ascending, mean, percentile } from './percentiles.js';
import { serverNodeFlags, type BenchOptions } from './bench-options.js';
import type { ChildSample } from './child-ipc.js';

export interface FanoutResult {
  kind: ServerKind;
  clients: number;
  seconds: number;
  /** Payload bytes of one stamped frame. */
  frameBytes: number;
  fps: { target: number; p5: number; median: number; min: number };
  latencyMs: { p50: number; p90: number; p99: number; max: number; samples: number };
  deliveredBytes: number;
  /** Delivered payload, MB/s (10^6). */
  throughput: number;
  server: { cpuSeconds: number; cpuPercent: number; userPercent: number; systemPercent: number; cpuSecondsPerGB: number; rssIdleMiB: number; rssMeanMiB: number; rssMaxMiB: number };
  /** CPU of the process running the clients (this one): near 100 % means the clients were the limit. */
  clientCpuPercent: number;
  /**
   * Wall time of the server's fan-out of one frame to every client (the source's emit and the
   * writes it queued, bench-source.ts), ms: how long the last client waits for the server to reach it.
   */
  fanoutMsPerFrame: number;
  /**
   * Times the client process went to sleep per source frame (voluntary context switches): it
   * read everything there was and waited. Each sleep is a wake-up the server pays for inside
   * `writev` on this 2-vCPU VM, so a slower fan-out costs the server more kernel time too.
   */
  clientSleepsPerFrame: number;
  /**
   * The server's write system calls per frame delivered: 1 when every frame goes to the kernel
   * in one call, above 1 when frames go out in pieces as full send buffers drain (each piece a
   * system call and a wake-up). It stayed 1.0 at 1000 clients even in rounds where the clients
   * fell behind (docs/benchmarks.md, 2026-11-30 night).
   */
  serverWritesPerDelivery: number;
  /** Server GC time in the window, ms per second: young-generation (scavenges) and full collections. */
  gcMsPerSecond: { minor: number; major: number };
  /** Server CPU while connected to no one, before the clients came (% of a core): the fixed cost. */
  idleCpuPercent: number;
  unstamped: number;
  /** 1-minute load average at the end of the window: how busy the shared machine was. */
  loadAverage: number;
  /**
   * With `--marginal`: the same server measured with one client first, and the cost of the
   * other N − 1, (CPU rate with N − CPU rate with 1) ÷ (delivery rate with N − with 1), CPU s
   * per GB. A source's own cost (drawing and encoding the demo, Chromium's screencast) is in
   * both windows and cancels.
   */
  marginal?: {
    oneClientCpuPercent: number;
    oneClientThroughput: number;
    cpuSecondsPerGB: number;
    /** The same for the main thread alone (the fan-out's thread; no encoder or GC helper threads). */
    mainCpuSecondsPerGB: number;
    /** GC ms per s in the one-client window (the N-client window's are in `gcMsPerSecond`). */
    oneClientGcMsPerSecond: { minor: number; major: number };
  };
  /** With `--client browser`: each Chromium page's fps in the window (they are among `fps`). */
  pageFps?: number[];
  /** The main thread's CPU in the window, % of a core. */
  mainCpuPercent: number;
  /** Mean payload bytes per delivered frame and the median client's fps: what the baselines copy. */
  meanFrameBytes: number;
  serverStats?: unknown;
}

/** What the server child is told besides the bench options (the baselines copy framehub's frames). */
export interface RunSource {
  fps: number;
  frameBytes: number;
}

const MiB = 1024 * 1024;
/** How long the server's idle CPU is sampled before the clients connect. */
const IDLE_MS = 2000;

interface Window {
  seconds: number;
  cpuSeconds: number;
  deliveredBytes: number;
  frames: number[];
  start: ChildSample;
  stop: ChildSample;
  rss: number[];
  clientCpuMicros: number;
  clientSleeps: number;
  latencies: Float64Array;
  unstamped: number;
}

/** The main thread's CPU seconds in a window. */
function mainCpu(w: Window): number {
  return (w.stop.mainCpu - w.start.mainCpu) / 1e6;
}

/** One measured window: a full GC in the server first, then `seconds` of traffic. */
async function measureWindow(server: ServerProcess, viewers: Viewers, seconds: number): Promise<Window> {
  const before = await viewers.counts();
  const clientCpuStart = await viewers.cpuMicros();
  const clientSleepsStart = process.resourceUsage().voluntaryContextSwitches;
  // A full collection before the window: what connecting the clients left in the old
  // generation is collected now rather than inside the window. The warm-up (15 s by
  // default) has already outlasted the full collections V8's memory reducer makes once
  // after start-up (docs/benchmarks.md, change 12). So the window measures the steady state.
  await server.sample(true);
  // perf_hooks delivers the forced collection's `gc` entry in a later task: let it land before
  // the window starts, or the window's full-GC time counts it (it showed as 60-190 ms/s of
  // "full GC" in framehub's windows at a load of 30, its heap being the larger).
  await sleep(250);
  const start = await server.sample();
  await viewers.record();
  const rss: number[] = [start.rss];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(1000, end - performance.now()));
    rss.push((await server.sample()).rss);
  }
  const stop = await server.sample();
  const after = await viewers.counts();
  const { latencies, unstamped } = await viewers.recorded();
  const elapsed = (stop.at - start.at) / 1000;
  return {
    seconds: elapsed,
    cpuSeconds: (stop.cpuUser + stop.cpuSystem - start.cpuUser - start.cpuSystem) / 1e6,
    deliveredBytes: after.bytes - before.bytes,
    frames: after.frames.map((f, i) => f - (before.frames[i] ?? 0)),
    start,
    stop,
    rss,
    clientCpuMicros: (await viewers.cpuMicros()) - clientCpuStart,
    clientSleeps: process.resourceUsage().voluntaryContextSwitches - clientSleepsStart,
    latencies,
    unstamped,
  };
}

/**
 * Starts a server child, connects the clients, warms up, measures one window, tears down.
 * With `options.marginal`, one client is measured first (a shorter warm-up: one client
 * settles fast), then the other N − 1 join, warm up and are measured.
 */
export async function fanoutRun(kind: ServerKind, options: BenchOptions, source: RunSource = { fps: options.fps, frameBytes: options.frameBytes }): Promise<FanoutResult> {
  const server = await ServerProcess.start(kind, {
    fps: source.fps, cap: options.cap, frameBytes: source.frameBytes, quality: options.quality, maxClients: options.clients + 16,
    // The demo pattern runs in every server (the same source cost in each); a session only in
    // framehub, whose frames the baselines copy in size and rate (`source`).
    source: kind === 'framehub' || options.source === 'demo' ? options.source : 'pre-encoded',
  }, 60_000, serverNodeFlags(options));
  const viewers = await viewersFor(server, options);
  try {
    // Twice: the first GC after start-up leaves set-up buffers (the grain images) to the second.
    await server.sample(true);
    const idle = await server.sample(true);
    await sleep(IDLE_MS);
    const idleEnd = await server.sample();
    const idleCpuPercent = ((idleEnd.cpuUser + idleEnd.cpuSystem - idle.cpuUser - idle.cpuSystem) / 1e3 / (idleEnd.at - idle.at)) * 100;
    const connectTimeout = 60_000 + options.clients * 50;
    let one: Window | undefined;
    if (options.marginal && options.clients > 1) {
      await viewers.connect(1, 1, connectTimeout);
      await viewers.firstFrames(20_000);
      await sleep(Math.min(options.warmup, 5) * 1000);
      one = await measureWindow(server, viewers, options.duration);
    }
    await viewers.connect(options.clients - (one ? 1 : 0), options.connectConcurrency, connectTimeout);
    await viewers.firstFrames(20_000);
    await sleep(options.warmup * 1000);
    const w = await measureWindow(server, viewers, options.duration);
    const { seconds, start, stop, deliveredBytes, cpuSeconds } = w;
    const sourceFrames = seconds * options.fps;
    const perClientFps = ascending(w.frames.map((f) => f / seconds));
    const deliveredFrames = w.frames.reduce((sum, f) => sum + f, 0);
    const serverStats = kind === 'framehub' ? await server.stats() : undefined;
    const marginal = one && {
      oneClientCpuPercent: (one.cpuSeconds / one.seconds) * 100,
      oneClientThroughput: one.deliveredBytes / one.seconds / 1e6,
      cpuSecondsPerGB: (cpuSeconds / seconds - one.cpuSeconds / one.seconds) / ((deliveredBytes / seconds - one.deliveredBytes / one.seconds) / 1e9),
      mainCpuSecondsPerGB: (mainCpu(w) / seconds - mainCpu(one) / one.seconds) / ((deliveredBytes / seconds - one.deliveredBytes / one.seconds) / 1e9),
      oneClientGcMsPerSecond: { minor: (one.stop.gcMinorMs - one.start.gcMinorMs) / one.seconds, major: (one.stop.gcMajorMs - one.start.gcMajorMs) / one.seconds },
    };
    return {
      kind,
      clients: options.clients,
      seconds,
      frameBytes: server.wireBytes || deliveredBytes / Math.max(1, deliveredFrames),
      fps: { target: source.fps, p5: percentile(perClientFps, 5), median: percentile(perClientFps, 50), min: perClientFps[0] ?? NaN },
      latencyMs: {
        p50: percentile(w.latencies, 50), p90: percentile(w.latencies, 90), p99: percentile(w.latencies, 99),
        max: w.latencies[w.latencies.length - 1] ?? NaN, samples: w.latencies.length,
      },
      deliveredBytes,
      throughput: deliveredBytes / seconds / 1e6,
      server: {
        cpuSeconds,
        cpuPercent: (cpuSeconds / seconds) * 100,
        userPercent: ((stop.cpuUser - start.cpuUser) / 1e6 / seconds) * 100,
        systemPercent: ((stop.cpuSystem - start.cpuSystem) / 1e6 / seconds) * 100,
        cpuSecondsPerGB: cpuSeconds / (deliveredBytes / 1e9),
        rssIdleMiB: idle.rss / MiB,
        rssMeanMiB: mean(w.rss) / MiB,
        rssMaxMiB: Math.max(...w.rss) / MiB,
      },
      clientCpuPercent: (w.clientCpuMicros / 1e6 / seconds) * 100,
      fanoutMsPerFrame: (stop.fanoutMs - start.fanoutMs) / sourceFrames,
      clientSleepsPerFrame: w.clientSleeps / sourceFrames,
      serverWritesPerDelivery: (stop.writeCalls - start.writeCalls) / Math.max(1, deliveredFrames),
      gcMsPerSecond: { minor: (stop.gcMinorMs - start.gcMinorMs) / seconds, major: (stop.gcMajorMs - start.gcMajorMs) / seconds },
      idleCpuPercent,
      unstamped: w.unstamped,
      loadAverage: loadavg()[0]!,
      mainCpuPercent: (mainCpu(w) / seconds) * 100,
      ...(viewers instanceof MixedViewers && { pageFps: w.frames.slice(w.frames.length - viewers.secondOpen).map((f) => Math.round((f / seconds) * 10) / 10) }),
      meanFrameBytes: deliveredBytes / Math.max(1, deliveredFrames),
      ...(marginal && { marginal }),
      ...(serverStats !== undefined && { serverStats }),
    };
  } finally {
    await viewers.close();
    await server.stop();
  }
}
