import { systemClock, type Clock } from './clock.js';

/**
 * The rate of a running count, from samples of it the owner takes when it suits it. A stream
 * counts its deliveries with one increment each and samples the count once per source frame,
 * before the frame's fan-out: a delivery costs no clock read and no store into a ring, and
 * the rate has no ceiling (a ring of event times holds only so many: 1000 clients at 30 fps
 * are 30 000 events a second).
 */
export class CountRate {
  readonly #times: Float64Array;
  readonly #counts: Float64Array;
  #next = 0;
  #size = 0;

  constructor(
    private readonly windowMs = 1000,
    capacity = 256,
    private readonly clock: Clock = systemClock,
  ) {
    this.#times = new Float64Array(capacity);
    this.#counts = new Float64Array(capacity);
  }

  /** Notes that the count was `count` at `at`. */
  sample(count: number, at = this.clock.now()): void {
    this.#times[this.#next] = at;
    this.#counts[this.#next] = count;
    this.#next = (this.#next + 1) % this.#times.length;
    if (this.#size < this.#times.length) this.#size++;
  }

  /**
   * Per second over the last window: what the count gained since the oldest sample inside the
   * window. Sampled before each fan-out, that is every delivery of the frames that came in the
   * window; with no sample inside it, nothing came and the rate is 0.
   */
  rate(count: number, now = this.clock.now()): number {
    const from = now - this.windowMs;
    let oldest = Infinity;
    let base = count;
    for (let i = 0; i < this.#size; i++) {
      const at = this.#times[i]!;
      if (at > from && at < oldest) {
        oldest = at;
        base = this.#counts[i]!;
      }
    }
    return ((count - base) * 1000) / this.windowMs;
  }
}
