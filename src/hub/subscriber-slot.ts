import type { Frame } from '../sources/frame.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { toError } from '../util/errors.js';

/** Ends one delivery: `error` if it failed, else `undefined` and the bytes the transport took. */
export type DeliveryDone = (error: Error | undefined, bytes: number) => void;

/**
 * Writes one frame to one client and calls `done` exactly once, when the transport has taken
 * the bytes (its write callback) or the write failed. A callback, not a promise: this runs
 * once per frame per client, and the slot's `done` is bound once, so a delivery allocates
 * nothing of its own (docs/benchmarks.md, "Callback delivery").
 */
export type Deliver = (frame: Frame, done: DeliveryDone) => void;

/**
 * A client's transport as an object: what the per-client hot paths (the WebSocket routes)
 * implement, so a delivery reads the slot, this object and its socket, and nothing else
 * (docs/benchmarks.md, "Fewer objects per delivery"). A plain `Deliver` function is wrapped
 * in one.
 */
export interface FrameSink {
  deliver: Deliver;
}

/** A `Deliver` from a promise-returning writer, for paths that await anyway (Socket.IO). */
export function deliverFromPromise(write: (frame: Frame) => Promise<number>): Deliver {
  return (frame, done) => {
    write(frame).then((bytes) => done(undefined, bytes), (error: unknown) => done(toError(error), 0));
  };
}

export interface SlotCounters {
  /** Frames fully written. */
  sent: number;
  /** Frames replaced while a write was in flight: the client was too slow for them. */
  dropped: number;
  /** Frames replaced while waiting for the client's fps cap: skipped by choice, not by slowness. */
  skipped: number;
  bytes: number;
  /** Deliveries that failed (encode error, socket gone). */
  failed: number;
}

/**
 * How far the pacing schedule moves toward the source's phase per frame that waited for the
 * cap. Consecutive writes stay at least `interval - 1 ms` apart (step plus the cap's tolerance), and
 * the rate at most 1 / (interval - 0.5 ms) when the source is faster than the cap.
 */
const PHASE_STEP_MS = 0.5;

/**
 * The cap does not bind while offers have come, on average, no faster than it allows (with
 * RATE_TOLERANCE): a source at or below the cap then goes out frame by frame, with no timer.
 * Under load (1000 clients, bench/fanout.ts) the event loop stalls for more than a frame,
 * the schedule restarts out of phase, and frames of a 30 fps source waited on per-client
 * timers again; averaged over several frames, the source's own pace is immune to that.
 * The average is a moving one with weight 1/RATE_WINDOW per offer (two numbers in the slot
 * rather than a ring of times: one object fewer to read per delivery) and counts only once
 * RATE_WINDOW offers came.
 */
const RATE_WINDOW = 8;
const RATE_TOLERANCE = 0.98;

/**
 * Latest frame wins, per client. At most one frame is pending and one in flight; a newer
 * frame replaces the pending one; the next write starts only after the previous one completed
 * (the transport's write callback), and no sooner than the client's fps cap allows.
 * A client that stops reading therefore holds one pending frame reference and one in-flight
 * write, and never slows anyone else down.
 */
export class SubscriberSlot {
  // Counters as plain fields, not an object of their own: every delivery updates them.
  #sent = 0;
  #dropped = 0;
  #skipped = 0;
  #bytes = 0;
  #failed = 0;
  #interval: number;
  #pending: Frame | undefined;
  #inFlight = false;
  #nextDue = -Infinity;
  /** When the pending frame was offered. */
  #pendingAt = -Infinity;
  /** When the previous frame was offered, the moving mean of the gaps, and how many came. */
  #lastOfferAt = -Infinity;
  #meanGap = 0;
  #offers = 0;
  #timer: TimerHandle | undefined;
  #closed = false;
  readonly #sink: FrameSink;

  constructor(
    sink: FrameSink | Deliver,
    fps: number,
    private readonly clock: Clock = systemClock,
    private readonly onError: (error: unknown) => void = () => {},
    /** Called after each completed write (the stream counts its outgoing fps with it). */
    private readonly onSent: () => void = () => {},
  ) {
    this.#sink = typeof sink === 'function' ? { deliver: sink } : sink;
    this.#interval = 1000 / fps;
  }

  /** A snapshot of the counters. */
  get counters(): SlotCounters {
    return { sent: this.#sent, dropped: this.#dropped, skipped: this.#skipped, bytes: this.#bytes, failed: this.#failed };
  }

  get fps(): number {
    return 1000 / this.#interval;
  }

  /** Changes the cap; a frame waiting on the old cap is re-timed. */
  setFps(fps: number): void {
    this.#interval = 1000 / fps;
    this.#nextDue = -Infinity;
    this.#clearTimer();
    this.#pump(this.clock.now());
  }

  get inFlight(): boolean {
    return this.#inFlight;
  }

  get hasPending(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Offers the newest frame. `now` is the clock's time, read once by a caller that offers one
   * frame to many slots.
   */
  offer(frame: Frame, now = this.clock.now()): void {
    if (this.#closed) return;
    if (this.#pending !== undefined) {
      if (this.#inFlight) this.#dropped++;
      else this.#skipped++;
    }
    // The first gap is left out: it follows the catch-up frame sent on subscribe, at any phase.
    const gap = now - this.#lastOfferAt;
    const offers = this.#offers++;
    if (offers === 2) this.#meanGap = gap;
    else if (offers > 2) this.#meanGap += (gap - this.#meanGap) / RATE_WINDOW;
    this.#lastOfferAt = now;
    if (!this.#inFlight && this.#timer === undefined && this.#dueIn(now) <= 0.5) {
      // Goes out now without being stored: the slot outlives many frames (old generation),
      // the frame is new, and V8 records every such store for its next scavenge, which cost
      // a measurable share of the fan-out (docs/benchmarks.md, "No new object stored into an
      // old one per delivery").
      if (this.#pending !== undefined) this.#pending = undefined;
      this.#send(frame, now, now);
      return;
    }
    this.#pending = frame;
    this.#pendingAt = now;
    this.#pump(now);
  }

  close(): void {
    this.#closed = true;
    this.#pending = undefined;
    this.#clearTimer();
  }

  /** Milliseconds until the cap lets the next write start (0 or less: now). */
  #dueIn(now: number): number {
    return this.#sourceWithinCap() ? 0 : this.#nextDue - now;
  }

  /** Starts writing the pending frame if nothing is in flight and the cap allows. */
  #pump(now: number): void {
    if (this.#closed || this.#inFlight || this.#pending === undefined || this.#timer !== undefined) return;
    // Half a millisecond of tolerance: timers fire late, never early, and a frame due in
    // 0.3 ms is not worth a timer.
    const wait = this.#dueIn(now);
    if (wait > 0.5) {
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = undefined;
        this.#pump(this.clock.now());
      }, wait);
      return;
    }
    const frame = this.#pending;
    this.#pending = undefined;
    this.#send(frame, this.#pendingAt, now);
  }

  #send(frame: Frame, offeredAt: number, now: number): void {
    this.#inFlight = true;
    // Schedule-based pacing keeps the long-run rate at the cap despite jitter (timers fire
    // late; spacing from the last write would let that lateness pile up); after a long pause
    // the schedule restarts from now instead of bursting to catch up. A schedule keeps the
    // phase it started with, though (often the catch-up frame sent on subscribe), so with a
    // cap equal to the source rate (the default: 30 and 30) every frame waited for a timer,
    // up to a whole interval (bench/fanout.ts, docs/benchmarks.md). A frame that had to wait
    // shows the source's frames come before our schedule: move it PHASE_STEP_MS earlier, until
    // frames arrive on time and go out at once.
    const waited = this.#nextDue - offeredAt > 0.5;
    this.#nextDue = (now - this.#nextDue > this.#interval ? now : this.#nextDue) + this.#interval - (waited ? PHASE_STEP_MS : 0);
    try {
      this.#sink.deliver(frame, this.#done);
    } catch (error) {
      this.#done(toError(error), 0); // a Deliver that throws instead of calling `done`
    }
  }

  /** Bound once: ends every delivery of this slot. */
  readonly #done: DeliveryDone = (error, bytes) => {
    // Bound once, so it cannot tell writes apart: a `done` with no write in flight (a repeat,
    // or after close) is ignored; the Deliver contract is one `done` per write.
    if (!this.#inFlight) return;
    if (error) {
      this.#failed++;
      this.onError(error);
    } else {
      this.#sent++;
      this.#bytes += bytes;
      this.onSent();
    }
    this.#inFlight = false;
    // The next write needs the time only if a frame is waiting (a slow client's).
    if (this.#pending !== undefined) this.#pump(this.clock.now());
  };

  /** Whether offers have come, on average, no faster than the cap. */
  #sourceWithinCap(): boolean {
    return this.#offers >= RATE_WINDOW && this.#meanGap >= this.#interval * RATE_TOLERANCE;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
