import sharp from 'sharp';
import { Source } from './source.js';
import { preciseNow } from '../util/clock.js';
import type { RawImage } from '../image/raster.js';
import { drawText, fillRect, textWidth, type Rgb } from '../image/raster.js';

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

/**
 * The demo source: scrolling colour bars, a bouncing box, a frame counter and a clock,
 * drawn into a raw RGB buffer and encoded with sharp. Needs nothing beyond npm packages.
 * Frames carry their raw pixels too, so other variants skip a JPEG decode.
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

  /** Renders frame `n` into a new raw RGB image. Exposed for tests of the picture itself. */
  render(n: number, now = new Date()): RawImage {
    const { width, height } = this;
    const img: RawImage = { data: Buffer.allocUnsafe(width * height * 3), width, height, channels: 3 };
    const barsHeight = Math.round(height * 0.7);
    // Draw one row of bars scrolled by 4 px a frame, then copy it down: one fill per bar.
    const barWidth = width / BARS.length;
    const offset = (n * 4) % width;
    const row: RawImage = { data: Buffer.allocUnsafe(width * 3), width, height: 1, channels: 3 };
    for (let i = 0; i < BARS.length; i++) {
      const x = (i * barWidth + offset) % width;
      fillRect(row, x, 0, barWidth + 1, 1, BARS[i]!);
      fillRect(row, x - width, 0, barWidth + 1, 1, BARS[i]!);
    }
    for (let y = 0; y < barsHeight; y++) row.data.copy(img.data, y * width * 3);
    fillRect(img, 0, barsHeight, width, height - barsHeight, [24, 24, 40]);
    // A box bouncing across the bottom band.
    const span = width - 80;
    const phase = (n * 8) % (2 * span);
    const boxX = phase < span ? phase : 2 * span - phase;
    fillRect(img, boxX, height - 60, 80, 40, [255, 140, 0]);
    const scale = Math.max(2, Math.round(height / 120));
    const counter = `FRAME ${String(n).padStart(6, '0')}`;
    const clock = now.toISOString().slice(11, 23);
    const textY = barsHeight + scale * 3;
    drawText(img, counter, scale * 4, textY, scale, [255, 255, 255]);
    drawText(img, clock, width - textWidth(clock, scale) - scale * 4, textY, scale, [255, 255, 255]);
    const labelScale = Math.max(1, Math.round(scale / 2));
    drawText(img, this.label, scale * 4, scale * 4, labelScale, [255, 255, 255]);
    return img;
  }

  async #emitFrame(): Promise<void> {
    const n = ++this.#frameNo;
    const capturedAt = preciseNow();
    const raw = this.render(n, new Date(capturedAt));
    const bytes = await sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 } })
      .jpeg({ quality: this.quality, optimiseCoding: false })
      .toBuffer();
    if (!this.#running) return;
    this.emit('frame', {
      bytes, format: 'jpeg', width: raw.width, height: raw.height, capturedAt, quality: this.quality, raw,
      meta: { pattern: n },
    });
  }
}
