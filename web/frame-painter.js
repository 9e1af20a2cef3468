// @ts-check
/**
 * Draws frames on a canvas, latest frame wins, in step with the display:
 *
 * - A frame is decoded by `createImageBitmap` (Chromium decodes a Blob off the main thread) as
 *   soon as it arrives, one decode at a time; a frame that arrives during a decode waits, and a
 *   newer one replaces it (the replaced one is counted as skipped and never decoded).
 * - The newest decoded picture is drawn in the next animation frame. A decode does not wait for
 *   that draw: waiting for the display before starting the next decode held every frame back
 *   by up to a screen refresh and made 30 fps streams lose frames whenever a decode and a
 *   refresh fell out of step (issue 20). Two pictures decoded within one refresh can only be
 *   shown as one: the older is closed unseen and counted as skipped.
 *
 * So at most three frames are in hand (one decoding, one waiting, one decoded and not drawn yet);
 * a page that cannot keep up shows fewer frames, never older ones, and its memory does not grow.
 */
import { parseDataUrl } from '/framehub-client.min.js';

/**
 * A frame to draw: its capture time (ms since the epoch) and its bytes, as a data URL (the
 * JSON routes) or a Blob (binary routes). A data URL is turned into bytes only if it is decoded.
 * @typedef {{ timestamp: number, data_url?: string, blob?: Blob }} PaintableFrame
 */
/**
 * When one frame went through the painter, ms since the epoch (sub-ms precision):
 * `decodedAt` its bitmap was ready, `drawnAt` it was drawn on the canvas (an animation frame).
 * @typedef {{ decodedAt: number, drawnAt: number }} PaintTiming
 */

/** Wall-clock ms with sub-ms precision, on the clock of the frames' capture times. */
export function preciseNow() {
  return performance.timeOrigin + performance.now();
}

export class FramePainter {
  /** @type {HTMLCanvasElement} */
  #canvas;
  /** @type {CanvasRenderingContext2D} */
  #ctx;
  #decoding = false;
  /** The newest frame that arrived during a decode; decoded next. @type {PaintableFrame | null} */
  #pending = null;
  /** The newest decoded picture, drawn at the next animation frame. @type {{ frame: PaintableFrame, bitmap: ImageBitmap, decodedAt: number } | null} */
  #ready = null;
  #frameRequested = false;
  /** Bumped by `clear()` so a decode that finishes afterwards is not drawn. */
  #generation = 0;

  drawn = 0;
  /** Frames replaced by a newer one while a decode ran: never decoded. */
  skippedUndecoded = 0;
  /** Decoded frames replaced by a newer decoded one before an animation frame came to draw them. */
  skippedUndrawn = 0;
  failed = 0;
  /** Capture → on-canvas time of the latest drawn frame, ms; NaN before the first. */
  lastLatency = NaN;

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(frame: PaintableFrame, timing: PaintTiming) => void} [onDrawn] called right after
   *   the draw, inside the animation frame callback
   */
  constructor(canvas, onDrawn) {
    this.#canvas = canvas;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('this browser gives no 2D canvas context');
    this.#ctx = ctx;
    this.onDrawn = onDrawn;
  }

  /** @param {PaintableFrame} frame */
  offer(frame) {
    if (this.#decoding) {
      if (this.#pending) this.skippedUndecoded++;
      this.#pending = frame;
      return;
    }
    void this.#decode(frame);
  }

  /** Forgets the waiting frames and blanks the canvas. */
  clear() {
    this.#generation++;
    this.#pending = null;
    this.#ready?.bitmap.close();
    this.#ready = null;
    this.#ctx.clearRect(0, 0, this.#canvas.width, this.#canvas.height);
  }

  /** Frames replaced by a newer one before they were drawn. */
  get skipped() {
    return this.skippedUndecoded + this.skippedUndrawn;
  }

  resetCounters() {
    this.drawn = 0;
    this.skippedUndecoded = 0;
    this.skippedUndrawn = 0;
    this.failed = 0;
    this.lastLatency = NaN;
  }

  /** @param {PaintableFrame} frame */
  async #decode(frame) {
    this.#decoding = true;
    const generation = this.#generation;
    try {
      const bitmap = await createImageBitmap(frame.blob ?? dataUrlToBlob(frame.data_url ?? ''));
      if (generation !== this.#generation) {
        bitmap.close();
        return;
      }
      if (this.#ready) {
        this.#ready.bitmap.close();
        this.skippedUndrawn++;
      }
      this.#ready = { frame, bitmap, decodedAt: preciseNow() };
      if (!this.#frameRequested) {
        this.#frameRequested = true;
        requestAnimationFrame(this.#draw);
      }
    } catch (error) {
      this.failed++;
      console.warn('framehub viewer: a frame could not be decoded', error);
    } finally {
      this.#decoding = false;
      const next = this.#pending;
      this.#pending = null;
      if (next) void this.#decode(next);
    }
  }

  /** The animation frame callback: draws the newest decoded picture. */
  #draw = () => {
    this.#frameRequested = false;
    const ready = this.#ready;
    this.#ready = null;
    if (!ready) return;
    const { frame, bitmap, decodedAt } = ready;
    try {
      if (this.#canvas.width !== bitmap.width || this.#canvas.height !== bitmap.height) {
        this.#canvas.width = bitmap.width;
        this.#canvas.height = bitmap.height;
      }
      this.#ctx.drawImage(bitmap, 0, 0);
    } finally {
      bitmap.close();
    }
    const drawnAt = preciseNow();
    this.drawn++;
    this.lastLatency = drawnAt - frame.timestamp;
    this.onDrawn?.(frame, { decodedAt, drawnAt });
  };
}

/**
 * A frame's data URL as a Blob, without a network round trip; the client library parses it.
 * @param {string} dataUrl
 * @returns {Blob}
 */
export function dataUrlToBlob(dataUrl) {
  const parsed = parseDataUrl(dataUrl);
  if (!parsed) throw new Error('not a data URL');
  return new Blob([parsed.bytes], { type: parsed.mimeType });
}
