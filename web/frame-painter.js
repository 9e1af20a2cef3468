// @ts-check
/**
 * Draws frames on a canvas with `createImageBitmap`, latest frame wins: while one frame is
 * being decoded and drawn, only the newest undecoded frame is kept; each frame it replaces is
 * counted as skipped and never decoded. A page that cannot keep up shows fewer frames, never
 * older ones, and its memory does not grow.
 */
import { parseDataUrl } from '/framehub-client.min.js';

/** @typedef {{ data_url: string, timestamp: number }} PaintableFrame */

export class FramePainter {
  /** @type {HTMLCanvasElement} */
  #canvas;
  /** @type {CanvasRenderingContext2D} */
  #ctx;
  #busy = false;
  /** @type {PaintableFrame | null} */
  #pending = null;
  /** Bumped by `clear()` so a decode that finishes afterwards is not drawn. */
  #generation = 0;

  drawn = 0;
  skipped = 0;
  failed = 0;
  /** Capture → on-canvas time of the latest drawn frame, ms; NaN before the first. */
  lastLatency = NaN;

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(frame: PaintableFrame, drawnAt: number) => void} [onDrawn]
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
    if (this.#busy) {
      if (this.#pending) this.skipped++;
      this.#pending = frame;
      return;
    }
    void this.#paint(frame);
  }

  /** Forgets the pending frame and blanks the canvas. */
  clear() {
    this.#generation++;
    this.#pending = null;
    this.#ctx.clearRect(0, 0, this.#canvas.width, this.#canvas.height);
  }

  resetCounters() {
    this.drawn = 0;
    this.skipped = 0;
    this.failed = 0;
    this.lastLatency = NaN;
  }

  /** @param {PaintableFrame} frame */
  async #paint(frame) {
    this.#busy = true;
    const generation = this.#generation;
    try {
      const bitmap = await createImageBitmap(dataUrlToBlob(frame.data_url));
      try {
        // Draw in step with the display: at most one draw per screen refresh.
        await nextAnimationFrame();
        if (generation !== this.#generation) return;
        if (this.#canvas.width !== bitmap.width || this.#canvas.height !== bitmap.height) {
          this.#canvas.width = bitmap.width;
          this.#canvas.height = bitmap.height;
        }
        this.#ctx.drawImage(bitmap, 0, 0);
      } finally {
        bitmap.close();
      }
      const drawnAt = Date.now();
      this.drawn++;
      this.lastLatency = drawnAt - frame.timestamp;
      this.onDrawn?.(frame, drawnAt);
    } catch (error) {
      this.failed++;
      console.warn('framehub viewer: a frame could not be decoded', error);
    } finally {
      this.#busy = false;
      const next = this.#pending;
      this.#pending = null;
      if (next) void this.#paint(next);
    }
  }
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

/** @returns {Promise<number>} */
function nextAnimationFrame() {
  return new Promise((resolve) => requestAnimationFrame(resolve));
}
