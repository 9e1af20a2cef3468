import { systemClock, type Clock } from '../util/clock.js';

export type TierName = 'fast' | 'normal' | 'slow';

export interface Tier {
  readonly name: TierName;
  readonly quality: number;
  readonly fps: number;
}

/** seeds/003's tiers: >5 Mbps q90/30 fps, 2-5 Mbps q75/20 fps, <2 Mbps q50/10 fps. */
export const TIERS: Readonly<Record<TierName, Tier>> = {
  fast: { name: 'fast', quality: 90, fps: 30 },
  normal: { name: 'normal', quality: 75, fps: 20 },
  slow: { name: 'slow', quality: 50, fps: 10 },
};
const ORDER: readonly TierName[] = ['slow', 'normal', 'fast'];
/** Lower edge of each tier above `slow`, bits per second. */
const EDGES = { normal: 2_000_000, fast: 5_000_000 } as const;

export interface AdaptiveOptions {
  /** @default 'normal' */
  initial?: TierName;
  /** Deliveries older than this no longer count (the newest `minSamples` always do). @default 3000 */
  windowMs?: number;
  /** No step down sooner than this after a change. @default 2000 */
  minDwellMs?: number;
  /** No step up sooner than this after a change: climbing is slower than backing off. @default 5000 */
  upDwellMs?: number;
  /** A tier edge must be passed by this fraction before switching (hysteresis). @default 0.2 */
  margin?: number;
  /** Deliveries needed in the window before any decision. @default 4 */
  minSamples?: number;
  clock?: Clock;
}

interface Sample {
  /** When the write started and when the transport reported it done. */
  start: number;
  at: number;
  bytes: number;
}

/**
 * Picks a subscriber's quality/fps tier from what its transport actually delivered. Each
 * delivery reports its bytes and how long the write took from start to the transport's
 * completion callback. While the link keeps up, writes complete at once and bytes over write
 * time is high; once the socket's buffers fill, writes wait for the link, the subscriber is
 * writing most of the time, and bytes over elapsed time is the link's rate. Encoded sizes
 * alone would say nothing about the link.
 *
 * Hysteresis: the estimate must clear a tier edge by `margin` (20 %) to move, a tier is kept
 * at least `minDwellMs` after a change, and stepping up waits `upDwellMs`, so a link near an
 * edge, or one whose completions come in bursts, does not flap.
 */
export class AdaptiveController {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #minDwellMs: number;
  readonly #upDwellMs: number;
  readonly #margin: number;
  readonly #minSamples: number;
  #tier: Tier;
  #changedAt: number;
  readonly #samples: Sample[] = [];

  constructor(options: AdaptiveOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#windowMs = options.windowMs ?? 3000;
    this.#minDwellMs = options.minDwellMs ?? 2000;
    this.#upDwellMs = options.upDwellMs ?? 5000;
    this.#margin = options.margin ?? 0.2;
    this.#minSamples = options.minSamples ?? 4;
    this.#tier = TIERS[options.initial ?? 'normal'];
    this.#changedAt = this.#clock.now();
  }

  get tier(): Tier {
    return this.#tier;
  }

  /** Bits per second over the window, or `undefined` with too few deliveries to say. */
  bandwidth(now = this.#clock.now()): number | undefined {
    this.#prune(now);
    if (this.#samples.length < this.#minSamples) return undefined;
    let bytes = 0;
    let busy = 0;
    for (const sample of this.#samples) {
      bytes += sample.bytes;
      // A write that completed "at once" still took some time; 1 ms keeps the ratio finite.
      busy += Math.max(1, sample.at - sample.start);
    }
    const span = Math.max(1, now - this.#samples[0]!.start);
    // Writing most of the time: the client is the bottleneck, and what it took over the whole
    // span is its rate. Kernel buffers make completions bursty (Linux wakes a writer only when a
    // third of the send buffer is free), so one long write plus a run of instant ones must
    // count as slow, not as fast. Idle most of the time: the link kept up, and bytes over write
    // time says how much more it could take.
    return busy / span >= 0.5 ? (bytes * 8 * 1000) / span : (bytes * 8 * 1000) / busy;
  }

  /** Records one completed write; returns the new tier when this delivery changed it. */
  record(bytes: number, busyMs: number): Tier | undefined {
    const now = this.#clock.now();
    this.#samples.push({ start: now - busyMs, at: now, bytes });
    const bps = this.bandwidth(now);
    if (bps === undefined || now - this.#changedAt < this.#minDwellMs) return undefined;
    const target = this.#target(bps);
    if (target === this.#tier.name) return undefined;
    if (ORDER.indexOf(target) > ORDER.indexOf(this.#tier.name) && now - this.#changedAt < this.#upDwellMs) return undefined;
    this.#tier = TIERS[target];
    this.#changedAt = now;
    // Samples taken under the old tier describe the old load; start measuring afresh.
    this.#samples.length = 0;
    return this.#tier;
  }

  /** The tier `bps` asks for, moving at most as far as the margins allow. */
  #target(bps: number): TierName {
    let index = ORDER.indexOf(this.#tier.name);
    // Up while the next edge is cleared by the margin, down while the current edge is missed by it.
    while (index < ORDER.length - 1 && bps > EDGES[ORDER[index + 1] as keyof typeof EDGES] * (1 + this.#margin)) index++;
    while (index > 0 && bps < EDGES[ORDER[index] as keyof typeof EDGES] * (1 - this.#margin)) index--;
    return ORDER[index]!;
  }

  #prune(now: number): void {
    const from = now - this.#windowMs;
    let drop = 0;
    // The newest `minSamples` always stay: on a slow link writes complete less often than the
    // window is long, and those are exactly the samples that must count.
    while (drop < this.#samples.length - this.#minSamples && this.#samples[drop]!.at < from) drop++;
    if (drop > 0) this.#samples.splice(0, drop);
    // Bounded however fast deliveries come: 60 fps × 3 s is 180.
    if (this.#samples.length > 512) this.#samples.splice(0, this.#samples.length - 512);
  }
}
