import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ascending, median, percentile } from './percentiles.js';
import type { SoakOptions } from './soak-options.js';
import { connectTimeoutMs, memorySample, startSoakServer, streamUrl, type MemorySample } from './soak-server.js';
import { ViewerSet } from './soak-viewers.js';

/** One soak sample: the server's memory and descriptors, and the viewers' fps since the previous sample. */
export interface SoakSample extends MemorySample {
  phase: 'warmup' | 'measure';
  fps: { median: number; p5: number; min: number; max: number };
  /** Viewers the server disconnected so far. */
  lost: number;
  load: number;
}

export interface SoakResult {
  options: SoakOptions;
  /** The server before any viewer, after a forced GC. */
  idle: MemorySample;
  /** Seconds to connect every viewer and see a frame on each. */
  connectSeconds: number;
  samples: SoakSample[];
  /** The last warm-up sample: the reference. */
  reference: SoakSample;
  /** Forced-GC samples right after the warm-up and at the end: retained memory. */
  referenceGc: MemorySample;
  endGc: MemorySample;
  lost: number;
  lostReasons: Record<string, number>;
  /** Every viewer's fps over the whole measured time. */
  overall: { median: number; p5: number; min: number };
}

/** `clients` viewers on /stream for the warm-up plus `duration`, sampled every `sampleEvery` s. */
export async function soakRun(options: SoakOptions, log: (line: string) => void): Promise<SoakResult> {
  const server = await startSoakServer(options);
  const viewers = new ViewerSet(streamUrl(server, options));
  const startedAt = performance.now();
  try {
    await memorySample(server, startedAt, true);
    const idle = await memorySample(server, startedAt, true);
    log(`soak: ${options.clients} viewers connecting`);
    await viewers.connect(options.clients, options.connectConcurrency, connectTimeoutMs(options.clients));
    await viewers.firstFrames(30_000);
    const connectSeconds = (performance.now() - startedAt) / 1000;
    log(`soak: connected in ${connectSeconds.toFixed(1)} s; warm-up ${options.warmup} s, then ${options.duration} s`);

    const samples: SoakSample[] = [];
    let frames = viewers.viewers.map((v) => v.frames);
    let at = performance.now();
    const take = async (phase: SoakSample['phase']): Promise<SoakSample> => {
      const now = performance.now();
      const seconds = (now - at) / 1000;
      const fps = ascending(viewers.viewers.map((v, i) => (v.frames - frames[i]!) / seconds));
      frames = viewers.viewers.map((v) => v.frames);
      at = now;
      const sample: SoakSample = {
        ...(await memorySample(server, startedAt)),
        phase,
        fps: { median: median(fps), p5: percentile(fps, 5), min: fps[0] ?? NaN, max: fps[fps.length - 1] ?? NaN },
        lost: viewers.lost,
        load: loadavg()[0]!,
      };
      samples.push(sample);
      return sample;
    };
    const run = async (phase: SoakSample['phase'], seconds: number): Promise<void> => {
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end - 1) {
        await sleep(Math.min(options.sampleEvery * 1000, end - performance.now()));
        const s = await take(phase);
        if (samples.length % Math.max(1, Math.round(60 / options.sampleEvery)) === 0) {
          log(`soak ${phase} ${s.t.toFixed(0)} s: RSS ${(s.rss / 2 ** 20).toFixed(1)} MiB, heap ${(s.heapUsed / 2 ** 20).toFixed(1)} MiB, fds ${s.fds}, fps median ${s.fps.median.toFixed(1)} min ${s.fps.min.toFixed(1)}, lost ${s.lost}`);
        }
      }
    };
    await run('warmup', options.warmup);
    const reference = samples.at(-1) ?? await take('warmup');
    // The forced GC is out of the fps windows: the next window starts after it.
    const referenceGc = await memorySample(server, startedAt, true);
    frames = viewers.viewers.map((v) => v.frames);
    at = performance.now();
    const measureFrames = frames;
    const measureStart = at;
    await run('measure', options.duration);
    const seconds = (performance.now() - measureStart) / 1000;
    const overall = ascending(viewers.viewers.map((v, i) => (v.frames - measureFrames[i]!) / seconds));
    const endGc = await memorySample(server, startedAt, true);
    return {
      options, idle, connectSeconds, samples, reference, referenceGc, endGc,
      lost: viewers.lost,
      lostReasons: Object.fromEntries(viewers.lostReasons),
      overall: { median: median(overall), p5: percentile(overall, 5), min: overall[0] ?? NaN },
    };
  } finally {
    await viewers.leave('drop').catch(() => {});
    await server.stop();
  }
}
