import { setTimeout as sleep } from 'node:timers/promises';
import { ClientSwarm } from './client-swarm.js';
import { ServerProcess, type ServerKind } from './server-process.js';
import { ascending, mean, percentile } from './percentiles.js';
import { serverNodeFlags, type BenchOptions } from './bench-options.js';
import type { ChildSample } from './child-ipc.js';
import { kernelQueues } from './kernel-queues.js';

export interface StallResult {
  kind: ServerKind;
  clients: number;
  stalled: number;
  frameBytes: number;
  /** The readers' fps before and during the stall. */
  before: { p5: number; median: number };
  during: { p5: number; median: number; min: number; seconds: number };
  target: number;
  /** Server RSS once a second through the stall, MiB. */
  rssSeriesMiB: number[];
  rssBeforeMiB: number;
  /** Mean RSS over the last quarter of the stall. */
  rssEndMiB: number;
  rssMaxMiB: number;
  /** (RSS at end − RSS before) ÷ stalled clients, bytes. */
  rssPerStalled: number;
  /** The same for Buffer memory (`arrayBuffers`) after a forced GC: the frames pinned by stalled sockets. */
  buffersPerStalled: number;
  buffersBeforeMiB: number;
  buffersEndMiB: number;
  /** Kernel TCP queues of all connections at the end of the stall (not in any RSS). */
  kernelServerSendMiB: number;
  kernelClientReceiveMiB: number;
  serverStats?: unknown;
}

const MiB = 1024 * 1024;

/** Measures the readers for `stallBefore` s, stalls a fraction of clients, watches `stallDuration` s. */
export async function stallRun(kind: ServerKind, options: BenchOptions, log: (line: string) => void): Promise<StallResult> {
  const server = await ServerProcess.start(kind, {
    fps: options.fps, cap: options.cap, frameBytes: options.frameBytes, quality: options.quality, maxClients: options.clients + 16,
    source: 'pre-encoded',
  }, 30_000, serverNodeFlags(options));
  const swarm = new ClientSwarm(server.transport(options.client === 'ws' ? 'ws' : 'raw'), server.url);
  try {
    await swarm.connect(options.clients, options.connectConcurrency, 60_000 + options.clients * 50);
    await swarm.firstFrames(20_000);
    await sleep(options.warmup * 1000);
    const stallEvery = Math.max(1, Math.round(1 / options.stallFraction));
    const toStall = swarm.clients.filter((c) => c.index % stallEvery === stallEvery - 1);
    const readers = swarm.clients.filter((c) => c.index % stallEvery !== stallEvery - 1);

    const fpsOver = async (seconds: number, each: (sample: ChildSample) => void): Promise<{ fps: number[]; seconds: number }> => {
      const frames = readers.map((c) => c.frames);
      const start = await server.sample();
      each(start);
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        await sleep(Math.min(1000, end - performance.now()));
        each(await server.sample());
      }
      const stop = await server.sample();
      const elapsed = (stop.at - start.at) / 1000;
      return { fps: ascending(readers.map((c, i) => (c.frames - frames[i]!) / elapsed)), seconds: elapsed };
    };

    // Buffer memory after a forced GC, median of three probes a second apart: the first GCs
    // after start-up still release set-up garbage, and one probe can catch a write in flight.
    const settledBuffers = async (): Promise<number> => {
      const probes: number[] = [];
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(1000);
        probes.push((await server.sample(true)).arrayBuffers);
      }
      return percentile(ascending(probes), 50);
    };
    await server.sample(true);
    await server.sample(true);
    const rssBefore: number[] = [];
    const before = await fpsOver(options.stallBefore, (s) => rssBefore.push(s.rss));
    const buffersBefore = await settledBuffers();
    // One every 1.5 frame intervals: stalled together, their sockets would fill up at the same
    // moment and pin the same frame, hiding what each one costs on its own.
    for (const client of toStall) {
      client.stall();
      await sleep(1500 / options.fps);
    }
    log(`  ${kind}: ${toStall.length} of ${swarm.clients.length} clients stalled; watching ${options.stallDuration} s`);
    const series: number[] = [];
    const during = await fpsOver(options.stallDuration, (s) => series.push(s.rss));
    const kernel = kernelQueues(server.port);
    const buffersEnd = await settledBuffers();
    const tail = series.slice(Math.floor(series.length * 0.75));
    const rssBeforeMean = mean(rssBefore);
    const rssEnd = mean(tail);
    const serverStats = kind === 'framehub' ? await server.stats() : undefined;
    return {
      kind,
      clients: swarm.clients.length,
      stalled: toStall.length,
      frameBytes: server.wireBytes,
      before: { p5: percentile(before.fps, 5), median: percentile(before.fps, 50) },
      during: { p5: percentile(during.fps, 5), median: percentile(during.fps, 50), min: during.fps[0] ?? NaN, seconds: during.seconds },
      target: options.fps,
      rssSeriesMiB: series.map((v) => v / MiB),
      rssBeforeMiB: rssBeforeMean / MiB,
      rssEndMiB: rssEnd / MiB,
      rssMaxMiB: Math.max(...series) / MiB,
      rssPerStalled: (rssEnd - rssBeforeMean) / toStall.length,
      buffersPerStalled: (buffersEnd - buffersBefore) / toStall.length,
      buffersBeforeMiB: buffersBefore / MiB,
      buffersEndMiB: buffersEnd / MiB,
      kernelServerSendMiB: kernel.serverSend / MiB,
      kernelClientReceiveMiB: kernel.clientReceive / MiB,
      ...(serverStats !== undefined && { serverStats }),
    };
  } finally {
    swarm.close();
    await server.stop();
  }
}
