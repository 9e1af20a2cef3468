import type { Demand, FrameRequest, FrameShape, PictureSize } from '../sources/demand.js';
import { effectiveQuality, passesThrough, specKey, targetSize, type VariantSpec } from './variant-spec.js';

/** What one reader of a stream needs of each frame. */
export type ReaderNeed =
  /** The source's frames as they come, full size and quality (a relay to another node, a client of the bytes). */
  | { readonly kind: 'frames' }
  /** A variant's viewers: pixels when the variant cannot pass the source's bytes through; its size and quality. */
  | { readonly kind: 'variant'; readonly spec: VariantSpec }
  /** Decoded pixels fitting this box (an H.264 tier, and so a recorder; no box: full size), at the source's best quality. */
  | { readonly kind: 'pixels'; readonly maxWidth?: number; readonly maxHeight?: number };

interface Held {
  readonly need: ReaderNeed;
  count: number;
}

/**
 * The needs of a stream's readers now, each held while its reader is there (a claimed variant,
 * a subscriber, an H.264 tier, a screenshot waiting for its frame), counted by kind: a hundred
 * viewers of one variant are one entry. The stream's source reads it as its `Demand`.
 */
export class ReaderDemand implements Demand {
  readonly #held = new Map<string, Held>();
  readonly #listeners = new Set<() => void>();

  /** Holds `need` until the returned function is called (once; later calls do nothing). */
  hold(need: ReaderNeed): () => void {
    const key = needKey(need);
    const held = this.#held.get(key);
    if (held) held.count++;
    else this.#held.set(key, { need, count: 1 });
    if (!held) this.#changed();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const entry = this.#held.get(key)!;
      if (--entry.count > 0) return;
      this.#held.delete(key);
      this.#changed();
    };
  }

  /** Distinct needs held now. */
  get size(): number {
    return this.#held.size;
  }

  wantsPixels(shape: FrameShape): boolean {
    for (const { need } of this.#held.values()) if (wantsPixels(need, shape)) return true;
    return false;
  }

  largest(full: PictureSize): PictureSize | undefined {
    if (this.#held.size === 0) return undefined;
    let width = 0;
    let height = 0;
    let quality = 0;
    for (const { need } of this.#held.values()) {
      const picture = pictureFor(need, full);
      width = Math.max(width, picture.width);
      height = Math.max(height, picture.height);
      quality = Math.max(quality, picture.quality);
    }
    return { width, height, quality };
  }

  onChange(listener: () => void): () => void {
    // A wrapper per call: the same function added twice is two listeners, each removed by its own stop.
    const wrapper = () => listener();
    this.#listeners.add(wrapper);
    return () => this.#listeners.delete(wrapper);
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch {
        // A source's listener failing must not keep a reader from coming or going.
      }
    }
  }
}

/** What `need` asks of a frame of `shape`, in a source's terms (`Source.serves`). */
export function frameRequest(need: ReaderNeed, shape: FrameShape): FrameRequest {
  switch (need.kind) {
    case 'frames': return { pixels: false };
    case 'variant': return {
      pixels: wantsPixels(need, shape),
      ...(need.spec.maxWidth !== undefined && { maxWidth: need.spec.maxWidth }),
      ...(need.spec.maxHeight !== undefined && { maxHeight: need.spec.maxHeight }),
      ...(effectiveQuality(need.spec) !== undefined && { quality: need.spec.quality }),
    };
    case 'pixels': return {
      pixels: true,
      ...(need.maxWidth !== undefined && { maxWidth: need.maxWidth }),
      ...(need.maxHeight !== undefined && { maxHeight: need.maxHeight }),
    };
  }
}

/** A variant wants pixels when it is encoded rather than passed through, even with pixels at hand. */
function wantsPixels(need: ReaderNeed, shape: FrameShape): boolean {
  switch (need.kind) {
    case 'frames': return false;
    case 'variant': return !passesThrough(shape, need.spec, true);
    case 'pixels': return true;
  }
}

/** The picture `need` shows of a source that could send `full`. Lossless formats show the best there is. */
function pictureFor(need: ReaderNeed, full: PictureSize): PictureSize {
  if (need.kind === 'frames') return full;
  const box = need.kind === 'variant' ? need.spec : need;
  const size = targetSize(full.width, full.height, box);
  const wanted = need.kind === 'variant' ? effectiveQuality(need.spec) : undefined;
  return { ...size, quality: Math.min(full.quality, wanted ?? full.quality) };
}

function needKey(need: ReaderNeed): string {
  switch (need.kind) {
    case 'frames': return 'frames';
    case 'variant': return `variant:${specKey(need.spec)}`;
    case 'pixels': return `pixels:${need.maxWidth ?? ''}x${need.maxHeight ?? ''}`;
  }
}
