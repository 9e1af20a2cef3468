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

/**
 * What a controller chooses among: rungs from the slowest up, and the lower edge (bits per
 * second) of each rung above the first.
 */
export interface AdaptiveLadder<T extends { readonly name: string }> {
  readonly rungs: readonly T[];
  /** `edges[i]` is the lower edge of `rungs[i + 1]`. */
  readonly edges: readonly number[];
}

/** seeds/003's ladder: `slow` below 2 Mbit/s, `normal` from 2, `fast` from 5. */
export const IMAGE_LADDER: AdaptiveLadder<Tier> = { rungs: [TIERS.slow, TIERS.normal, TIERS.fast], edges: [2_000_000, 5_000_000] };

export interface AdaptiveOptions<T extends { readonly name: string } = Tier> {
  /** The rungs and their edges. @default IMAGE_LADDER */
  ladder?: AdaptiveLadder<T>;
  /** Name of the rung to start on. @default 'normal' */
  initial?: string;
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
export class AdaptiveController<T extends { readonly name: string } = Tier> {
  readonly #ladder: AdaptiveLadder<T>;
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #minDwellMs: number;
  readonly #upDwellMs: number;
  readonly #margin: number;
  readonly #minSamples: number;
  #index: number;
  #changedAt: number;
  readonly #samples: Sample[] = [];

  constructor(options: AdaptiveOptions<T> = {}) {
    this.#ladder = options.ladder ?? (IMAGE_LADDER as unknown as AdaptiveLadder<T>);
    if (this.#ladder.edges.length !== this.#ladder.rungs.length - 1) throw new RangeError('a ladder has one edge fewer than rungs');
    this.#clock = options.clock ?? systemClock;
    this.#windowMs = options.windowMs ?? 3000;
    this.#minDwellMs = options.minDwellMs ?? 2000;
    this.#upDwellMs = options.upDwellMs ?? 5000;
    this.#margin = options.margin ?? 0.2;
    this.#minSamples = options.minSamples ?? 4;
    const initial = this.#ladder.rungs.findIndex((rung) => rung.name === (options.initial ?? 'normal'));
    this.#index = initial >= 0 ? initial : Math.floor(this.#ladder.rungs.length / 2);
    this.#changedAt = this.#clock.now();
  }

  get tier(): T {
    return this.#ladder.rungs[this.#index]!;
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
  record(bytes: number, busyMs: number): T | undefined {
    const now = this.#clock.now();
    this.#samples.push({ start: now - busyMs, at: now, bytes });
    const bps = this.bandwidth(now);
    if (bps === undefined || now - this.#changedAt < this.#minDwellMs) return undefined;
    const target = this.#target(bps);
    if (target === this.#index) return undefined;
    if (target > this.#index && now - this.#changedAt < this.#upDwellMs) return undefined;
    this.#index = target;
    this.#changedAt = now;
    // Samples taken under the old tier describe the old load; start measuring afresh.
    this.#samples.length = 0;
    return this.tier;
  }

  /** The rung `bps` asks for, moving at most as far as the margins allow. */
  #target(bps: number): number {
    const { rungs, edges } = this.#ladder;
    let index = this.#index;
    // Up while the next edge is cleared by the margin, down while the current edge is missed by it.
    while (index < rungs.length - 1 && bps > edges[index]! * (1 + this.#margin)) index++;
    while (index > 0 && bps < edges[index - 1]! * (1 - this.#margin)) index--;
    return index;
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
