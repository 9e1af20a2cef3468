import { RateMeter } from '../util/rate-meter.js';

/**
 * What a receiver counts about the frames it gets: totals since the last reset, frames per
 * second over the last second, and capture → arrival latency. Transport-free, so a page fed by
 * StreamClient and one fed by Socket.IO count the same way. Times are wall-clock ms
 * (`Date.now()`), because frame capture times on the wire are.
 */
export class ReceiveStats {
  /** Frames since the last reset. */
  frames = 0;
  /** Bytes of every message counted (frames and others). */
  bytes = 0;
  /** Arrival time of the latest frame; NaN before the first. */
  lastFrameAt = Number.NaN;
  /** Capture → arrival time of the latest frame that said when it was captured; NaN before. */
  lastArrivalLatency = Number.NaN;
  #rate = new RateMeter(1000);

  /**
   * Counts one frame.
   * @param bytes its size on the wire
   * @param capturedAt its capture time, when the frame says (ms since the epoch)
   */
  onFrame(bytes: number, capturedAt?: number, now = Date.now()): void {
    this.frames++;
    this.bytes += bytes;
    this.lastFrameAt = now;
    if (capturedAt !== undefined && Number.isFinite(capturedAt)) this.lastArrivalLatency = now - capturedAt;
    this.#rate.record(now);
  }

  /** Counts a message that is not a frame (stats, status). */
  onMessage(bytes: number): void {
    this.bytes += bytes;
  }

  /** Frames per second over the last second. */
  fps(now = Date.now()): number {
    return this.#rate.rate(now);
  }

  reset(): void {
    this.frames = 0;
    this.bytes = 0;
    this.lastFrameAt = Number.NaN;
    this.lastArrivalLatency = Number.NaN;
    this.#rate = new RateMeter(1000);
  }
}
