import type { AccessUnit } from '../hub/access-unit.js';
import type { VideoSink } from '../hub/video-slot.js';
import type { VideoSubscription, VideoTier } from '../hub/video-tier.js';

/**
 * Most a pre-record buffer holds, whatever its window: at the 720p tier's 2 Mbit/s ceiling a
 * minute is ~15 MB, so this bounds a long window, not a normal one.
 */
const MAX_BUFFER_BYTES = 64 * 1024 * 1024;

/**
 * The last `windowMs` of a stream's recorded tier, kept all the time so that a recording started
 * now begins that long ago (`prerecord:` in a stream's YAML). One more consumer of the tier,
 * which therefore keeps encoding (and the stream's source running) while the server runs: the
 * price of having the past to record. Whole GOPs only: it always starts at a keyframe, and the
 * oldest GOP goes once the next one alone covers the window.
 */
export class PrerecordBuffer implements VideoSink {
  readonly #windowMs: number;
  #units: AccessUnit[] = [];
  #bytes = 0;
  #subscription: VideoSubscription | undefined;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Milliseconds of pictures held now (first to last capture time). */
  get spanMs(): number {
    const first = this.#units[0];
    const last = this.#units.at(-1);
    return first && last ? last.capturedAt - first.capturedAt : 0;
  }

  attach(tier: VideoTier): void {
    this.#subscription ??= tier.subscribe(this);
  }

  deliver(units: readonly AccessUnit[], done: (error: Error | undefined, bytes: number) => void): void {
    for (const unit of units) {
      // A run starts at a keyframe; anything before the first one cannot be decoded.
      if (this.#units.length === 0 && !unit.keyframe) continue;
      this.#units.push(unit);
      this.#bytes += unit.data.length;
    }
    this.#trim();
    done(undefined, 0);
  }

  /** The pictures held, oldest first, from a keyframe: what a recording starting now begins with. */
  snapshot(): AccessUnit[] {
    return [...this.#units];
  }

  close(): void {
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#units = [];
    this.#bytes = 0;
  }

  #trim(): void {
    const newest = this.#units.at(-1);
    if (!newest) return;
    for (;;) {
      // The start of the second GOP: dropping the first leaves the buffer starting there.
      const next = this.#units.findIndex((unit, i) => i > 0 && unit.keyframe);
      if (next < 0) return;
      const coversWindow = newest.capturedAt - this.#units[next]!.capturedAt >= this.#windowMs;
      if (!coversWindow && this.#bytes <= MAX_BUFFER_BYTES) return;
      for (const unit of this.#units.splice(0, next)) this.#bytes -= unit.data.length;
    }
  }
}
