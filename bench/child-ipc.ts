import { readFileSync } from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { fanoutTime } from './bench-source.js';
import type { SourceKind } from './bench-options.js';
/**
 * The IPC between the bench orchestrator and a server child. The child measures itself
 * (process.cpuUsage covers every thread of the process: main, libuv pool, libvips) and answers
 * samples on request, so the parent never guesses from outside.
 */

/** Stream id the bench clients ask for on framehub's `/ws/video_feed?stream=`. */
export const BENCH_STREAM = 'bench';

export interface ServerChildOptions {
  /** Source frame rate (the baselines may get a fractional one: the rate framehub's source delivered). */
  fps: number;
  /** What framehub's bench stream is fed by (bench-options.ts); the baselines always send BenchSource frames. */
  source?: SourceKind;
  /** framehub's per-client fps cap (WS_FRAME_RATE). */
  cap: number;
  frameBytes: number;
  quality: number;
  maxClients: number;
}

export interface ChildSample {
  /** `performance.timeOrigin + performance.now()` in the child. */
  at: number;
  /** CPU time of the whole process, microseconds. */
  cpuUser: number;
  cpuSystem: number;
  /**
   * CPU time of the main thread alone (user + system, µs; /proc/thread-self/schedstat, NaN
   * where there is none): the event loop, where the fan-out and its socket writes run, without
   * the libuv pool (sharp's encodes), libvips' and V8's helper threads.
   */
  mainCpu: number;
  /** Times the process slept waiting (voluntary context switches) since it started. */
  sleeps: number;
  /** The bench source's `fanoutTime.ms` so far. */
  fanoutMs: number;
  /** Time the main thread spent in V8's garbage collector so far, ms: young-generation and full. */
  gcMinorMs: number;
  gcMajorMs: number;
  /**
   * Write-family system calls the process made so far (`syscw` in /proc/self/io; NaN where
   * there is none). A whole frame accepted by the kernel is one call; a frame the kernel takes
   * in pieces, as a full send buffer drains, is several.
   */
  writeCalls: number;
  rss: number;
  /** V8's heap: what it holds (`heapUsed`) and the pages it has (`heapTotal`, freed ones included). */
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export type ParentMessage =
  | { type: 'sample'; id: number; gc?: boolean }
  | { type: 'stats'; id: number };

export type ChildMessage =
  | { type: 'ready'; port: number; frameSizes: number[]; wireBytes: number; streamId?: string }
  | { type: 'sample'; id: number; sample: ChildSample }
  | { type: 'stats'; id: number; stats: unknown };

export interface ServingChild {
  port: number;
  frameSizes: number[];
  wireBytes: number;
  /** framehub's stream the clients ask for (BENCH_STREAM, or a session's). */
  streamId?: string;
  /** Server-side counters worth reporting (framehub's stream stats); `undefined` for baselines. */
  stats?: () => unknown;
}

/** Reads the options the parent passed as argv[2] (JSON). */
export function childOptions(): ServerChildOptions {
  return JSON.parse(process.argv[2] ?? '{}') as ServerChildOptions;
}

/**
 * GC pauses, summed from perf_hooks' `gc` entries: a process with a larger heap (framehub's
 * Fastify, socket.io, pino, sharp) can pay more per collection than a bare loop for the same
 * garbage, which is a fixed cost per second rather than per delivery.
 */
const gcTime = { minor: 0, major: 0 };
function observeGc(): void {
  new PerformanceObserver(function gcOnEntries(list) {
    for (const entry of list.getEntries()) {
      const kind = ((entry as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcTime.minor += entry.duration;
      else gcTime.major += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
}

function sample(gc: boolean): ChildSample {
  // --expose-gc is passed by the parent so memory probes can exclude garbage not yet collected.
  if (gc) (globalThis as { gc?: () => void }).gc?.();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    at: performance.timeOrigin + performance.now(),
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    mainCpu: mainThreadCpu(),
    sleeps: process.resourceUsage().voluntaryContextSwitches,
    fanoutMs: fanoutTime.ms,
    gcMinorMs: gcTime.minor,
    gcMajorMs: gcTime.major,
    writeCalls: writeCalls(),
    rss: mem.rss,
    heapTotal: mem.heapTotal,
    heapUsed: mem.heapUsed,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
  };
}

function mainThreadCpu(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e3;
  } catch {
    return NaN;
  }
}

function writeCalls(): number {
  try {
    return Number(/^syscw: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Starts the server with `start`, reports `ready`, then answers probes until the parent goes away. */
export async function runServerChild(start: (options: ServerChildOptions) => Promise<ServingChild>): Promise<void> {
  const send = (message: ChildMessage) => process.send?.(message);
  process.on('disconnect', function parentOnDisconnect() {
    process.exit(0);
  });
  // Exit normally on SIGTERM (unless the server installs its own close-then-exit), so that
  // --cpu-prof profiles get written.
  process.on('SIGTERM', function processOnSigterm() {
    if (process.listenerCount('SIGTERM') === 1) process.exit(0);
  });
  observeGc();
  const serving = await start(childOptions());
  process.on('message', function parentOnMessage(message: ParentMessage) {
    if (message.type === 'sample') send({ type: 'sample', id: message.id, sample: sample(message.gc === true) });
    else if (message.type === 'stats') send({ type: 'stats', id: message.id, stats: serving.stats?.() });
  });
  send({ type: 'ready', port: serving.port, frameSizes: serving.frameSizes, wireBytes: serving.wireBytes, ...(serving.streamId !== undefined && { streamId: serving.streamId }) });
}
