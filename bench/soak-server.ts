import { BENCH_STREAM, type ChildSample } from './child-ipc.js';
import { startScriptFlags } from './bench-options.js';
import { ServerProcess } from './server-process.js';
import { probeProcess, type ProcessProbe } from './soak-probe.js';
import type { SoakOptions } from './soak-options.js';

/** One look at the server child: what it says of itself (V8, Buffers, CPU) and what /proc says. */
export interface MemorySample {
  /** Seconds since the scenario started. */
  t: number;
  rss: number;
  rssAnon: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  threads: number;
  /** CPU seconds of the whole process so far. */
  cpu: number;
  /** Whether a full GC ran just before (--expose-gc): what is left is what is retained. */
  gc: boolean;
}

/** The framehub child of bench/framehub-server.ts (the real server plus the bench stream), with `npm start`'s Node flags. */
export async function startSoakServer(options: SoakOptions): Promise<ServerProcess> {
  return ServerProcess.start('framehub', {
    fps: options.fps, cap: options.cap, frameBytes: options.frameBytes, quality: options.quality, maxClients: options.clients + 16,
  }, 30_000, [...startScriptFlags(), ...options.nodeFlags]);
}

/**
 * How long connecting `clients` viewers may take: a minute plus 250 ms a viewer. Generous on
 * purpose: on this shared 2-core machine, with the viewers already connected each taking
 * frames, a busy afternoon slowed handshakes to about 10 a second.
 */
export function connectTimeoutMs(clients: number): number {
  return 60_000 + clients * 250;
}

/** The bench stream on `WS /stream/:id`, JPEG passed through at the source's quality. */
export function streamUrl(server: ServerProcess, options: SoakOptions): string {
  return `ws://127.0.0.1:${server.port}/stream/${BENCH_STREAM}?fps=${options.cap}&quality=${options.quality}&format=jpeg`;
}

export async function memorySample(server: ServerProcess, startedAt: number, gc = false): Promise<MemorySample> {
  const child: ChildSample = await server.sample(gc);
  const proc: ProcessProbe = probeProcess(server.pid);
  return {
    t: (performance.now() - startedAt) / 1000,
    rss: proc.rss,
    rssAnon: proc.rssAnon,
    heapTotal: child.heapTotal,
    heapUsed: child.heapUsed,
    external: child.external,
    arrayBuffers: child.arrayBuffers,
    fds: proc.fds,
    threads: proc.threads,
    cpu: (child.cpuUser + child.cpuSystem) / 1e6,
    gc,
  };
}

/** The bench stream's subscriber count, from its stats. */
export async function subscribers(server: ServerProcess): Promise<number> {
  return ((await server.stats()) as { subscribers: number }).subscribers;
}
