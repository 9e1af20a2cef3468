// @ts-check
/**
 * What the viewer counts about the frames it receives: totals since the last reset, the rate
 * over the last second and the capture → arrival latency. Drawing counts live in FramePainter.
 */

const RATE_WINDOW_MS = 1000;

export class ViewerStats {
  frames = 0;
  /** Bytes of every message received (JSON text is ASCII, so characters = bytes). */
  bytes = 0;
  /** Wall-clock time of the latest frame, ms; NaN before the first. */
  lastFrameAt = NaN;
  /** Capture → arrival time of the latest frame, ms; NaN before the first. */
  lastArrivalLatency = NaN;
  /** @type {number[]} arrival times within the rate window, oldest first (≤ 60 fps × 1 s). */
  #arrivals = [];

  /**
   * @param {number} bytes
   * @param {number} capturedAt the frame's `timestamp`, ms since the epoch
   * @param {number} now
   */
  onFrame(bytes, capturedAt, now) {
    this.frames++;
    this.bytes += bytes;
    this.lastFrameAt = now;
    this.lastArrivalLatency = now - capturedAt;
    this.#arrivals.push(now);
    this.#trim(now);
  }

  /** @param {number} bytes a message that is not a frame */
  onMessage(bytes) {
    this.bytes += bytes;
  }

  /**
   * Frames per second over the last second (or since the first frame, if sooner).
   * @param {number} now
   */
  fps(now) {
    this.#trim(now);
    return this.#arrivals.length * (1000 / RATE_WINDOW_MS);
  }

  reset() {
    this.frames = 0;
    this.bytes = 0;
    this.lastFrameAt = NaN;
    this.lastArrivalLatency = NaN;
    this.#arrivals = [];
  }

  /** @param {number} now */
  #trim(now) {
    const arrivals = this.#arrivals;
    let drop = 0;
    while (drop < arrivals.length && arrivals[drop] <= now - RATE_WINDOW_MS) drop++;
    if (drop > 0) arrivals.splice(0, drop);
  }
}
