import { CountRate } from './count-rate.js';
import type { Clock } from './clock.js';

/**
 * Events per second over a sliding window, for callers that see each event: a `CountRate`
 * sampled once per event, before counting it, so the rate is the events since the oldest
 * one inside the window.
 */
export class RateMeter {
  readonly #counts: CountRate;
  #events = 0;

  constructor(windowMs = 1000, capacity = 256, clock?: Clock) {
    this.#counts = new CountRate(windowMs, capacity, clock);
  }

  record(at?: number): void {
    this.#counts.sample(this.#events++, at);
  }

  /** Events per second over the last window. */
  rate(now?: number): number {
    return this.#counts.rate(this.#events, now);
  }
}
