import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerProcess } from './server-process.js';
import type { SoakOptions } from './soak-options.js';
import { connectTimeoutMs, memorySample, startSoakServer, streamUrl, subscribers, type MemorySample } from './soak-server.js';
import { probeProcess } from './soak-probe.js';
import { ViewerSet } from './soak-viewers.js';

/** V8 frees dead ArrayBuffers' memory on a concurrent sweeper after a GC: right after gc() `external` is stale. */
const GC_SWEEP_MS = 2000;

export interface ChurnRound {
  round: number;
  /** Seconds to connect every viewer and see a frame on each. */
  connectSeconds: number;
  /** With every viewer connected. */
  peak: MemorySample;
  /** Seconds from the last viewer's close until the server had no subscriber and its descriptors were back. */
  drainSeconds: number;
  /** `settle` seconds later. */
  settled: MemorySample;
  /** Then, after a forced full GC (and GC_SWEEP_MS): what is retained. */
  afterGc: MemorySample;
}

export interface ChurnResult {
  options: SoakOptions;
  /** The server before the first viewer, after a forced GC. */
  idle: MemorySample;
  rounds: ChurnRound[];
  /** Connections the server ended on its own (must be 0). */
  lost: number;
  lostReasons: Record<string, number>;
}

/** `rounds` times: `clients` viewers connect, each gets a frame, all leave; sampled after each round settles. */
export async function churnRun(options: SoakOptions, log: (line: string) => void): Promise<ChurnResult> {
  const server = await startSoakServer(options);
  const viewers = new ViewerSet(streamUrl(server, options));
  const startedAt = performance.now();
  try {
    await memorySample(server, startedAt, true);
    const idle = await memorySample(server, startedAt, true);
    const rounds: ChurnRound[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const connectStart = performance.now();
      await viewers.connect(options.clients, options.connectConcurrency, connectTimeoutMs(options.clients));
      await viewers.firstFrames(30_000);
      const connectSeconds = (performance.now() - connectStart) / 1000;
      const peak = await memorySample(server, startedAt);
      await viewers.leave(options.leave);
      const drainStart = performance.now();
      await drained(server, idle.fds, 30_000);
      const drainSeconds = (performance.now() - drainStart) / 1000;
      await sleep(options.settle * 1000);
      const settled = await memorySample(server, startedAt);
      // A full GC, then a moment for V8's concurrent sweeping to free the dead Buffers' memory.
      await server.sample(true);
      await sleep(GC_SWEEP_MS);
      const afterGc = await memorySample(server, startedAt);
      rounds.push({ round, connectSeconds, peak, drainSeconds, settled, afterGc });
      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      log(`churn round ${round}: connected in ${connectSeconds.toFixed(1)} s, peak RSS ${mib(peak.rss)} MiB fds ${peak.fds}; settled RSS ${mib(settled.rss)} MiB (anon ${mib(settled.rssAnon)}), heap ${mib(settled.heapUsed)}/${mib(settled.heapTotal)} MiB, external ${mib(settled.external)} MiB, fds ${settled.fds}; after GC RSS ${mib(afterGc.rss)} heap ${mib(afterGc.heapUsed)}/${mib(afterGc.heapTotal)} Buffers ${mib(afterGc.arrayBuffers)}`);
    }
    return { options, idle, rounds, lost: viewers.lost, lostReasons: Object.fromEntries(viewers.lostReasons) };
  } finally {
    await viewers.leave('drop').catch(() => {});
    await server.stop();
  }
}

/**
 * Waits until the stream has no subscriber and the server's descriptors are back to `fds`
 * (a closed connection leaves the subscriber list and the descriptor table on separate ticks).
 * Polled: neither is an event this process can hear.
 */
async function drained(server: ServerProcess, fds: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while ((await subscribers(server)) > 0 || probeProcess(server.pid).fds > fds) {
    if (performance.now() > deadline) return;
    await sleep(100);
  }
}
