import { FINAL_CLOSE_CODES } from '../wire/close-codes.js';
import { ExponentialBackoff, type CloseInfo, type ReconnectPolicy } from '../util/reconnect-policy.js';

/**
 * A policy that gives up when the server closed with a code that says retrying as before cannot
 * succeed (by default `FINAL_CLOSE_CODES`: 4400, 4401 token refused, 4403, 4404, 4410), and
 * otherwise asks the policy it wraps. The pages use it so a refused token or an unknown stream
 * ends in a message rather than a retry loop.
 */
export class StopOnCloseCodes implements ReconnectPolicy {
  readonly #inner: ReconnectPolicy;
  readonly #codes: ReadonlySet<number>;

  /**
   * @param inner asked for every other close. @default ExponentialBackoff()
   * @param codes close codes that end the retries. @default FINAL_CLOSE_CODES
   */
  constructor(inner: ReconnectPolicy = new ExponentialBackoff(), codes: Iterable<number> = FINAL_CLOSE_CODES) {
    this.#inner = inner;
    this.#codes = new Set(codes);
  }

  nextDelay(attempt: number, close?: CloseInfo): number | null {
    if (close && this.#codes.has(close.code)) return null;
    return this.#inner.nextDelay(attempt, close);
  }
}
