/**
 * Token bucket on client messages: generous enough for a slider dragged at 60 events/s,
 * tight enough that a flood is cut off before it costs anyone else CPU.
 */
export class MessageLimiter {
  #tokens: number;
  #last = performance.now();

  constructor(
    private readonly perSecond = 100,
    private readonly burst = 200,
  ) {
    this.#tokens = burst;
  }

  /** `false` when the message is over the limit. */
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.perSecond) / 1000);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
