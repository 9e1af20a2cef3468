import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientSwarm } from './client-swarm.js';
import { ServerProcess, type ServerKind } from './server-process.js';
import { ascending, mean, percentile } from './percentiles.js';
import { serverNodeFlags, type BenchOptions } from './bench-options.js';

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
  serverStats?: unknown;
}

const MiB = 1024 * 1024;
/** How long the server's idle CPU is sampled before the clients connect. */
const IDLE_MS = 2000;

/** Starts a server child, connects the clients, warms up, measures one window, tears down. */
export async function fanoutRun(kind: ServerKind, options: BenchOptions): Promise<FanoutResult> {
  const server = await ServerProcess.start(kind, {
    fps: options.fps, cap: options.cap, frameBytes: options.frameBytes, quality: options.quality, maxClients: options.clients + 16,
  }, 30_000, serverNodeFlags(options));
  const swarm = new ClientSwarm(server.transport(options.client), server.url);
  try {
    // Twice: the first GC after start-up leaves set-up buffers (the grain images) to the second.
    await server.sample(true);
    const idle = await server.sample(true);
    await sleep(IDLE_MS);
    const idleEnd = await server.sample();
    const idleCpuPercent = ((idleEnd.cpuUser + idleEnd.cpuSystem - idle.cpuUser - idle.cpuSystem) / 1e3 / (idleEnd.at - idle.at)) * 100;
    await swarm.connect(options.clients, options.connectConcurrency, 60_000 + options.clients * 50);
    await swarm.firstFrames(20_000);
    await sleep(options.warmup * 1000);

    const startFrames = swarm.clients.map((c) => c.frames);
    const startBytes = swarm.clients.reduce((sum, c) => sum + c.bytes, 0);
    const clientCpuStart = process.cpuUsage();
    const clientSleepsStart = process.resourceUsage().voluntaryContextSwitches;
    // A full collection before the window: what connecting the clients left in the old
    // generation is collected now rather than inside the window. The warm-up (15 s by
    // default) has already outlasted the full collections V8's memory reducer makes once
    // after start-up (docs/benchmarks.md, change 12). So the window measures the steady state.
    await server.sample(true);
    const start = await server.sample();
    swarm.record();
    const rss: number[] = [start.rss];
    const end = performance.now() + options.duration * 1000;
    while (performance.now() < end) {
      await sleep(Math.min(1000, end - performance.now()));
      rss.push((await server.sample()).rss);
    }
    const stop = await server.sample();
    swarm.recording = false;
    const seconds = (stop.at - start.at) / 1000;
    const clientCpu = process.cpuUsage(clientCpuStart);
    const clientSleeps = process.resourceUsage().voluntaryContextSwitches - clientSleepsStart;
    const sourceFrames = seconds * options.fps;
    const perClientFps = ascending(swarm.clients.map((c, i) => (c.frames - startFrames[i]!) / seconds));
    const deliveredBytes = swarm.clients.reduce((sum, c) => sum + c.bytes, 0) - startBytes;
    const latencies = swarm.latencies.sorted();
    const cpuSeconds = (stop.cpuUser + stop.cpuSystem - start.cpuUser - start.cpuSystem) / 1e6;
    const serverStats = kind === 'framehub' ? await server.stats() : undefined;
    return {
      kind,
      clients: options.clients,
      seconds,
      frameBytes: server.wireBytes,
      fps: { target: options.fps, p5: percentile(perClientFps, 5), median: percentile(perClientFps, 50), min: perClientFps[0] ?? NaN },
      latencyMs: {
        p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? NaN, samples: latencies.length,
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
        rssMeanMiB: mean(rss) / MiB,
        rssMaxMiB: Math.max(...rss) / MiB,
      },
      clientCpuPercent: ((clientCpu.user + clientCpu.system) / 1e6 / seconds) * 100,
      fanoutMsPerFrame: (stop.fanoutMs - start.fanoutMs) / sourceFrames,
      clientSleepsPerFrame: clientSleeps / sourceFrames,
      serverWritesPerDelivery: (stop.writeCalls - start.writeCalls) / (deliveredBytes / server.wireBytes),
      gcMsPerSecond: { minor: (stop.gcMinorMs - start.gcMinorMs) / seconds, major: (stop.gcMajorMs - start.gcMajorMs) / seconds },
      idleCpuPercent,
      unstamped: swarm.unstamped,
      loadAverage: loadavg()[0]!,
      ...(serverStats !== undefined && { serverStats }),
    };
  } finally {
    swarm.close();
    await server.stop();
  }
}
