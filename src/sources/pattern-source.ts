import sharp from 'sharp';
import { Source } from './source.js';
import { preciseNow } from '../util/clock.js';
import type { RawImage } from '../image/raster.js';
import type { Frame } from './frame.js';
import type { FrameRequest } from './demand.js';
import { BAND_ROWS, BandJpeg } from '../image/band-jpeg.js';
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
 * Encoded bands kept for reuse. The pattern repeats (bars every width/4 frames at most, the box
 * every 2(width-80)/8), so the keys are finitely many; the cap only bounds odd sizes.
 */
const MAX_CACHED_BANDS = 4096;

/**
 * The demo source: scrolling colour bars, a bouncing box, a frame counter and a clock,
 * drawn into a raw RGB buffer and encoded with sharp. Needs nothing beyond npm packages.
 * Frames carry their raw pixels too, so other variants skip a JPEG decode, but only while some
 * reader encodes from pixels (`demand`): a 2.7 MB copy per 720p frame that nobody reads costs
 * the process full garbage collections (docs/benchmarks.md, "Raw pixels on demand").
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
  /** Frames put together from 64-row bands; undefined once sharp's output could not be stacked. */
  #bands: BandJpeg | undefined;
  readonly #bandCache = new Map<string, Buffer>();

  constructor(options: PatternOptions = {}) {
    super();
    this.width = options.width ?? 1280;
    this.height = options.height ?? 720;
    this.fps = options.fps ?? 30;
    this.quality = options.quality ?? 80;
    this.label = options.label ?? 'FRAMEHUB DEMO';
    this.#bands = new BandJpeg(this.width, this.height, this.quality);
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

  /** Where the bars and the box are in frame `n`. */
  #motion(n: number): { offset: number; boxX: number } {
    const span = this.width - 80;
    const phase = (n * 8) % (2 * span);
    return { offset: (n * 4) % this.width, boxX: phase < span ? phase : 2 * span - phase };
  }

  /** Rows of the picture's parts: what a band's pixels depend on. */
  #layout(): { barsHeight: number; textTop: number; textBottom: number; boxTop: number; boxBottom: number; labelTop: number; labelBottom: number } {
    const barsHeight = Math.round(this.height * 0.7);
    const scale = Math.max(2, Math.round(this.height / 120));
    const labelScale = Math.max(1, Math.round(scale / 2));
    const textTop = barsHeight + scale * 3;
    return {
      barsHeight, textTop, textBottom: textTop + GLYPH_HEIGHT * scale, boxTop: this.height - 60, boxBottom: this.height - 20,
      labelTop: scale * 4, labelBottom: scale * 4 + GLYPH_HEIGHT * labelScale,
    };
  }

  /**
   * The cache key of band `index` in frame `n`, from what its pixels depend on: the bars'
   * offset, the box's position, nothing (static) or the counter and clock (no key: new each frame).
   */
  #bandKey(index: number, n: number): string | undefined {
    const top = index * BAND_ROWS;
    const bottom = Math.min(this.height, top + BAND_ROWS);
    const l = this.#layout();
    const hits = (from: number, to: number) => top < to && from < bottom;
    if (hits(l.textTop, l.textBottom)) return undefined;
    const { offset, boxX } = this.#motion(n);
    const bars = hits(0, l.barsHeight);
    const box = hits(l.boxTop, l.boxBottom);
    // Full bands of bars alone have the same pixels wherever they are: one entry for all of them.
    if (bars && !box && !hits(l.labelTop, l.labelBottom) && bottom - top === BAND_ROWS && bottom <= l.barsHeight) return `bars:${offset}`;
    return `${index}:${bars ? offset : ''}:${box ? boxX : ''}`;
  }

  /** The frame's JPEG: bands whose pixels were encoded before are reused, the others encoded now. */
  async #encode(canvas: RawImage, n: number): Promise<Buffer> {
    const bands = this.#bands;
    if (bands) {
      try {
        const keys = Array.from({ length: bands.bandCount }, (_, i) => this.#bandKey(i, n));
        // One encode per missing key: the bands of bars alone share theirs.
        const pending = new Map<string, Promise<Buffer>>();
        const segments = await Promise.all(keys.map((key, i) => {
          if (key === undefined) return bands.encodeBand(canvas.data, i);
          const cached = this.#bandCache.get(key);
          if (cached) return cached;
          let encoding = pending.get(key);
          if (!encoding) {
            encoding = bands.encodeBand(canvas.data, i);
            pending.set(key, encoding);
          }
          return encoding;
        }));
        for (const [key, encoding] of pending) {
          if (this.#bandCache.size < MAX_CACHED_BANDS) this.#bandCache.set(key, await encoding);
        }
        return bands.assemble(segments);
      } catch {
        // sharp's output could not be stacked (another build of it, say): encode whole frames from now on.
        this.#bands = undefined;
        this.#bandCache.clear();
      }
    }
    return sharp(canvas.data, { raw: { width: canvas.width, height: canvas.height, channels: 3 } })
      .jpeg({ quality: this.quality, optimiseCoding: false })
      .toBuffer();
  }

  /** Draws frame `n` onto the canvas, touching only what differs from the previous frame. */
  #draw(n: number, now: Date): RawImage {
    const { width, height } = this;
    const stride = width * 3;
    const layout = this.#layout();
    const { barsHeight } = layout;
    const { offset, boxX } = this.#motion(n);
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
      const start = (width - offset) * 3;
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
    const box: Rect = { x: boxX, y: height - 60, w: 80, h: 40 };
    fillRect(canvas, box.x, box.y, box.w, box.h, BOX);
    const scale = Math.max(2, Math.round(height / 120));
    const counter = `FRAME ${String(n).padStart(6, '0')}`;
    const clock = now.toISOString().slice(11, 23);
    const textY = layout.textTop;
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
    const bytes = await this.#encode(canvas, n);
    if (!this.#running) return;
    // The frame's raw pixels are its own: variants encode them asynchronously, possibly after
    // the canvas has moved on to the next frame. Asked now, after the encode: a reader that
    // came meanwhile gets this frame's.
    const shape = { width: canvas.width, height: canvas.height, format: 'jpeg', quality: this.quality } as const;
    const raw: RawImage | undefined = this.demand.wantsPixels(shape) ? { ...canvas, data: Buffer.from(canvas.data) } : undefined;
    this.emit('frame', {
      ...shape, bytes, capturedAt, ...(raw && { raw }),
      meta: { pattern: n },
    });
  }

  /** A reader that asked for pixels waits for a frame that has them. */
  override serves(frame: Frame, request: FrameRequest): boolean {
    return !request.pixels || frame.raw !== undefined;
  }
}
