import sharp from 'sharp';
import { Source } from '../src/sources/source.js';
import { PatternSource } from '../src/sources/pattern-source.js';
import { preciseNow } from '../src/util/clock.js';
import { stampJpeg } from './frame-stamp.js';

export interface BenchSourceOptions {
  /** @default 30 */
  fps: number;
  /** Target JPEG size in bytes. @default 65536 */
  frameBytes: number;
  /** JPEG quality the frames are encoded at and labelled with. @default 80 */
  quality: number;
  /** Distinct pictures cycled through. @default 4 */
  distinct: number;
}

export const BENCH_SOURCE_DEFAULTS: BenchSourceOptions = { fps: 30, frameBytes: 65_536, quality: 80, distinct: 4 };

const WIDTH = 1280;
const HEIGHT = 720;

/**
 * Bench-only source: 1280x720 JPEGs of about `frameBytes`, encoded once at start-up and cycled
 * at `fps`. Each emitted frame is a fresh copy carrying a capture stamp (frame-stamp.ts), so
 * frames are distinct buffers as a live source's would be, and clients can measure latency.
 * Frames are labelled with the quality clients ask for, so framehub's variant passes the bytes
 * through: the benchmark measures fan-out, not encoding. The same class feeds the baselines.
 */
/**
 * Wall time from `emit('frame')` until the writes it caused were made, summed (ms): every
 * server delivers from its frame listener, synchronously or (framehub, src/server/preframed.ts)
 * in a microtask queued during it, which runs before the one queued here after it.
 */
export const fanoutTime = { ms: 0, frames: 0 };

export class BenchSource extends Source {
  readonly kind = 'bench';
  readonly options: BenchSourceOptions;
  #pictures: Buffer[] = [];
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;

  constructor(options: Partial<BenchSourceOptions> = {}) {
    super();
    this.options = { ...BENCH_SOURCE_DEFAULTS, ...options };
  }

  /** Encodes the pictures; call once before `start()`. Resolves with their sizes. */
  async prepare(): Promise<number[]> {
    const pattern = new PatternSource({ width: WIDTH, height: HEIGHT, label: 'FRAMEHUB BENCH' });
    this.#pictures = [];
    for (let i = 0; i < this.options.distinct; i++) {
      this.#pictures.push(await pictureOfSize(pattern, i * 7 + 1, this.options.frameBytes, this.options.quality));
    }
    return this.#pictures.map((p) => p.length);
  }

  /** The first picture with a stamp: what one frame looks like on the wire. */
  get sampleBytes(): number {
    return this.#pictures[0] ? stampJpeg(this.#pictures[0], 0, 0).length : 0;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    if (this.#pictures.length === 0) await this.prepare();
    this.#running = true;
    const interval = 1000 / this.options.fps;
    const startedAt = performance.now();
    let tick = 0;
    const loop = (): void => {
      if (!this.#running) return;
      this.#emitFrame();
      // Paced against the start time like PatternSource: no drift, no catch-up bursts.
      const now = performance.now();
      tick = Math.max(tick + 1, Math.floor((now - startedAt) / interval) + 1);
      this.#timer = setTimeout(loop, Math.max(0, startedAt + tick * interval - now));
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #emitFrame(): void {
    const seq = ++this.#seq;
    const picture = this.#pictures[seq % this.#pictures.length]!;
    const capturedAt = preciseNow();
    const bytes = stampJpeg(picture, capturedAt, seq);
    const start = performance.now();
    this.emit('frame', { bytes, format: 'jpeg', width: WIDTH, height: HEIGHT, capturedAt, quality: this.options.quality });
    queueMicrotask(() => {
      fanoutTime.ms += performance.now() - start;
      fanoutTime.frames++;
    });
  }
}

/** The demo pattern plus grain, the grain's strength searched until the JPEG is about `target` bytes. */
async function pictureOfSize(pattern: PatternSource, n: number, target: number, quality: number): Promise<Buffer> {
  const raw = pattern.render(n, new Date(0));
  let low = 0;
  let high = 64;
  let best: Buffer | undefined;
  for (let i = 0; i < 10; i++) {
    const amplitude = (low + high) / 2;
    const jpeg = await sharp(grain(raw.data, amplitude, n), { raw: { width: raw.width, height: raw.height, channels: 3 } })
      .jpeg({ quality, optimiseCoding: false })
      .toBuffer();
    if (!best || Math.abs(jpeg.length - target) < Math.abs(best.length - target)) best = jpeg;
    if (Math.abs(jpeg.length - target) < target * 0.005) break;
    if (jpeg.length < target) low = amplitude;
    else high = amplitude;
  }
  return best!;
}

/** Deterministic noise of `amplitude` levels added to every channel. */
function grain(pixels: Buffer, amplitude: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(pixels.length);
  let state = (seed * 7919 + 1) >>> 0;
  for (let i = 0; i < pixels.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const value = pixels[i]! + (((state >>> 16) & 0xff) / 255 - 0.5) * amplitude;
    out[i] = value < 0 ? 0 : value > 255 ? 255 : value;
  }
  return out;
}
