import { systemClock, type Clock } from './clock.js';

/**
 * Events per second over a sliding window. Keeps a small ring of timestamps, so reading the
 * rate costs nothing per event beyond one store.
 */
export class RateMeter {
  readonly #times: Float64Array;
  #next = 0;
  #count = 0;

  constructor(
    private readonly windowMs = 1000,
    capacity = 256,
    private readonly clock: Clock = systemClock,
  ) {
    this.#times = new Float64Array(capacity);
  }

  record(at = this.clock.now()): void {
    this.#times[this.#next] = at;
    this.#next = (this.#next + 1) % this.#times.length;
    if (this.#count < this.#times.length) this.#count++;
  }

  /** Events per second over the last window. */
  rate(now = this.clock.now()): number {
    const from = now - this.windowMs;
    let n = 0;
    for (let i = 0; i < this.#count; i++) {
      if (this.#times[i]! > from) n++;
    }
    return (n * 1000) / this.windowMs;
  }

  reset(): void {
    this.#count = 0;
    this.#next = 0;
  }
}
