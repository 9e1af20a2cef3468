/**
 * When to try again after a connection is lost or a process died. One method, so a policy can
 * be tested on its own and swapped without touching what it drives (livekit's `ReconnectPolicy`
 * has the same shape). The one reconnect core of framehub: the client library's sockets, the
 * ComfyUI bridge and the hub's source restarts all ask a policy of this shape. Isomorphic.
 */
export interface ReconnectPolicy {
  /**
   * Delay in ms before attempt number `attempt` (1 for the first retry after a loss), or `null`
   * to give up. `close` is how the last connection ended, where there was one (a WebSocket's
   * close code and reason); a policy may stop on codes that say retrying cannot help.
   */
  nextDelay(attempt: number, close?: CloseInfo): number | null;
}

/** How a connection ended, as the policy sees it. */
export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ExponentialBackoffOptions {
  /** First delay. @default 1000 */
  initialDelay?: number;
  /** Upper bound of any delay. @default 30000 */
  maxDelay?: number;
  /** Fraction of the delay added or removed at random, 0..1. @default 0.1 */
  jitter?: number;
  /** Give up after this many attempts. @default Infinity */
  maxAttempts?: number;
  /** Source of randomness in [0, 1); injectable so tests see exact delays. @default Math.random */
  random?: () => number;
}

/**
 * seeds/001's default: 1 s, doubling each attempt, capped at `maxDelay`, with jitter. The
 * attempt counter (and so the delay) starts over after a successful connection because the
 * socket counts attempts from the last success.
 */
export class ExponentialBackoff implements ReconnectPolicy {
  readonly #initial: number;
  readonly #max: number;
  readonly #jitter: number;
  readonly #maxAttempts: number;
  readonly #random: () => number;

  constructor(options: ExponentialBackoffOptions = {}) {
    this.#initial = nonNegative(options.initialDelay ?? 1000, 'initialDelay');
    this.#max = nonNegative(options.maxDelay ?? 30000, 'maxDelay');
    this.#jitter = Math.min(1, nonNegative(options.jitter ?? 0.1, 'jitter'));
    this.#maxAttempts = options.maxAttempts ?? Infinity;
    this.#random = options.random ?? Math.random;
  }

  nextDelay(attempt: number): number | null {
    if (attempt > this.#maxAttempts) return null;
    // Cap the exponent so 2 ** n stays finite for very long outages.
    const base = Math.min(this.#max, this.#initial * 2 ** Math.min(attempt - 1, 30));
    const spread = base * this.#jitter * (this.#random() * 2 - 1);
    return Math.round(Math.min(this.#max, Math.max(0, base + spread)));
  }
}

export interface FixedDelayOptions {
  /** Delay before every attempt. @default 5000 */
  delay?: number;
  /** Give up after this many attempts. @default 10 */
  maxAttempts?: number;
}

/** seeds/000's policy: the same `reconnectDelay` every time, at most `maxReconnectAttempts` times. */
export class FixedDelay implements ReconnectPolicy {
  readonly #delay: number;
  readonly #maxAttempts: number;

  constructor(options: FixedDelayOptions = {}) {
    this.#delay = nonNegative(options.delay ?? 5000, 'delay');
    this.#maxAttempts = nonNegative(options.maxAttempts ?? 10, 'maxAttempts');
  }

  nextDelay(attempt: number): number | null {
    return attempt > this.#maxAttempts ? null : this.#delay;
  }
}

/** Never reconnect (`autoReconnect: false`). */
export const NO_RECONNECT: ReconnectPolicy = { nextDelay: () => null };

function nonNegative(value: number, name: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new RangeError(`${name} must be a number >= 0 (got ${String(value)})`);
  }
  return value;
}

/**
 * The default restart policy. Viewers wait for the restart: a source that was delivering comes
 * back at once (issue 13: frames again within 2 s of a kill); one that keeps dying without a
 * frame backs off, `baseMs` × 2^n up to `maxMs`, without jitter (one process, no herd).
 */
export function restartAtOnceThenBackOff(baseMs: number, maxMs: number): ReconnectPolicy {
  const backoff = new ExponentialBackoff({ initialDelay: baseMs, maxDelay: maxMs, jitter: 0 });
  return { nextDelay: (attempt) => (attempt === 1 ? 0 : backoff.nextDelay(attempt)) };
}
