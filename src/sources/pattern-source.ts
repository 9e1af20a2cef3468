import sharp from 'sharp';
import { Source } from './source.js';
import { preciseNow } from '../util/clock.js';
import type { RawImage } from '../image/raster.js';
import { drawText, fillRect, GLYPH_HEIGHT, textWidth, type Rgb } from '../image/raster.js';

export interface PatternOptions {
  /** @default 1280 */
  width?: number;
  /** @default 720 */
  height?: number;
  /** 1-60. @default 30 */
  fps?: number;
  /** JPEG quality of the frames it emits. @default 80 */
  quality?: number;
  /** Text drawn on the pattern. @default 'FRAMEHUB DEMO' */
  label?: string;
}

// SMPTE-style bars at 75 %: white, yellow, cyan, green, magenta, red, blue, black.
const BARS: readonly Rgb[] = [
  [191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0],
  [191, 0, 191], [191, 0, 0], [0, 0, 191], [16, 16, 16],
];
const BAND: Rgb = [24, 24, 40];
const BOX: Rgb = [255, 140, 0];
const WHITE: Rgb = [255, 255, 255];

/** A rectangle drawn on the band last frame, to be painted back to the band colour. */
interface Rect { x: number; y: number; w: number; h: number }

/**
 * The demo source: scrolling colour bars, a bouncing box, a frame counter and a clock,
 * drawn into a raw RGB buffer and encoded with sharp. Needs nothing beyond npm packages.
 * Frames carry their raw pixels too, so other variants skip a JPEG decode.
 *
 * Drawing is incremental (issue 20: what a demo costs its host counts): one canvas lives as
 * long as the source; the bars are one precomputed row copied down, and only what moved
 * since the last frame (box, counter, clock) is painted back to the band colour and redrawn.
 */
export class PatternSource extends Source {
  readonly kind = 'pattern';
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly quality: number;
  readonly label: string;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #frameNo = 0;
  /** The picture, drawn in place frame after frame; created on first use. */
  #canvas: RawImage | undefined;
  /** The bar row at scroll offset 0, twice over: the row at offset o starts (width - o) pixels in. */
  #barRows: Buffer | undefined;
  /** What the last frame drew on the band (box, counter, clock). */
  #dirty: Rect[] = [];

  constructor(options: PatternOptions = {}) {
    super();
    this.width = options.width ?? 1280;
    this.height = options.height ?? 720;
    this.fps = options.fps ?? 30;
    this.quality = options.quality ?? 80;
    this.label = options.label ?? 'FRAMEHUB DEMO';
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const interval = 1000 / this.fps;
    const startedAt = performance.now();
    let tick = 0;
    const loop = async (): Promise<void> => {
      if (!this.#running) return;
      try {
        await this.#emitFrame();
      } catch (error) {
        this.#running = false;
        this.emit('exit', { error: error as Error, restartable: true });
        return;
      }
      if (!this.#running) return;
      // Pace against the start time so the rate does not drift; if rendering fell behind,
      // skip the missed ticks rather than bursting to catch up.
      const now = performance.now();
      tick = Math.max(tick + 1, Math.floor((now - startedAt) / interval));
      this.#timer = setTimeout(() => void loop(), Math.max(0, startedAt + tick * interval - now));
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Renders frame `n` into a new raw RGB image (a copy of the canvas: the canvas itself is
   * redrawn by the next call). Exposed for tests of the picture itself.
   */
  render(n: number, now = new Date()): RawImage {
    const canvas = this.#draw(n, now);
    return { ...canvas, data: Buffer.from(canvas.data) };
  }

  /** Draws frame `n` onto the canvas, touching only what differs from the previous frame. */
  #draw(n: number, now: Date): RawImage {
    const { width, height } = this;
    const stride = width * 3;
    const barsHeight = Math.round(height * 0.7);
    let canvas = this.#canvas;
    let barRows = this.#barRows;
    if (!canvas || !barRows) {
      canvas = { data: Buffer.alloc(width * height * 3), width, height, channels: 3 };
      fillRect(canvas, 0, barsHeight, width, height - barsHeight, BAND);
      // One row of bars at offset 0 (one fill per bar, the last wrapping round), then doubled.
      const barWidth = width / BARS.length;
      const row: RawImage = { data: Buffer.alloc(stride), width, height: 1, channels: 3 };
      for (let i = 0; i < BARS.length; i++) {
        fillRect(row, i * barWidth, 0, barWidth + 1, 1, BARS[i]!);
        fillRect(row, i * barWidth - width, 0, barWidth + 1, 1, BARS[i]!);
      }
      barRows = Buffer.concat([row.data, row.data]);
      this.#canvas = canvas;
      this.#barRows = barRows;
      this.#dirty = [];
    }
    // Bars scroll by 4 px a frame: copy the shifted row into the first line, then double the
    // copied block down (log2(rows) memcpys instead of one per line).
    if (barsHeight > 0) {
      const start = (width - ((n * 4) % width)) * 3;
      barRows.copy(canvas.data, 0, start, start + stride);
      for (let done = 1; done < barsHeight; done *= 2) {
        const rows = Math.min(done, barsHeight - done);
        canvas.data.copyWithin(done * stride, 0, rows * stride);
      }
    }
    // Paint last frame's box and text back to the band (their parts over the bars were just redrawn).
    for (const r of this.#dirty) {
      const top = Math.max(r.y, barsHeight);
      fillRect(canvas, r.x, top, r.w, r.y + r.h - top, BAND);
    }
    // A box bouncing across the bottom band.
    const span = width - 80;
    const phase = (n * 8) % (2 * span);
    const boxX = phase < span ? phase : 2 * span - phase;
    const box: Rect = { x: boxX, y: height - 60, w: 80, h: 40 };
    fillRect(canvas, box.x, box.y, box.w, box.h, BOX);
    const scale = Math.max(2, Math.round(height / 120));
    const counter = `FRAME ${String(n).padStart(6, '0')}`;
    const clock = now.toISOString().slice(11, 23);
    const textY = barsHeight + scale * 3;
    const counterRect: Rect = { x: scale * 4, y: textY, w: textWidth(counter, scale), h: GLYPH_HEIGHT * scale };
    const clockRect: Rect = { x: width - textWidth(clock, scale) - scale * 4, y: textY, w: textWidth(clock, scale), h: GLYPH_HEIGHT * scale };
    drawText(canvas, counter, counterRect.x, textY, scale, WHITE);
    drawText(canvas, clock, clockRect.x, textY, scale, WHITE);
    // The label sits on the bars, which were redrawn under it (on a tiny picture it may reach the band).
    const labelScale = Math.max(1, Math.round(scale / 2));
    const labelRect: Rect = { x: scale * 4, y: scale * 4, w: textWidth(this.label, labelScale), h: GLYPH_HEIGHT * labelScale };
    drawText(canvas, this.label, labelRect.x, labelRect.y, labelScale, WHITE);
    this.#dirty = [box, counterRect, clockRect, labelRect];
    return canvas;
  }

  async #emitFrame(): Promise<void> {
    const n = ++this.#frameNo;
    const capturedAt = preciseNow();
    const canvas = this.#draw(n, new Date(capturedAt));
    // sharp reads the canvas while this awaits; the next frame is drawn only after it.
    const bytes = await sharp(canvas.data, { raw: { width: canvas.width, height: canvas.height, channels: 3 } })
      .jpeg({ quality: this.quality, optimiseCoding: false })
      .toBuffer();
    if (!this.#running) return;
    // The frame's raw pixels are its own: variants encode them asynchronously, possibly after
    // the canvas has moved on to the next frame.
    const raw: RawImage = { ...canvas, data: Buffer.from(canvas.data) };
    this.emit('frame', {
      bytes, format: 'jpeg', width: canvas.width, height: canvas.height, capturedAt, quality: this.quality, raw,
      meta: { pattern: n },
    });
  }
}
