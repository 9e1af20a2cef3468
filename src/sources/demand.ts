import type { ImageFormat } from '../image/sniff.js';

/** The size, format and quality of a frame a source is about to emit. */
export interface FrameShape {
  readonly width: number;
  readonly height: number;
  readonly format: ImageFormat;
  readonly quality?: number;
}

/** A picture's size and JPEG quality: what a source can send at most, or what its readers need. */
export interface PictureSize {
  readonly width: number;
  readonly height: number;
  readonly quality: number;
}

/** What one reader asks of a frame, in a source's terms (`Source.serves`). */
export interface FrameRequest {
  /** The decoded pixels along with the bytes (it re-encodes, resizes, or feeds a video encoder). */
  readonly pixels: boolean;
  /** At least the size that fits this box; unset: the source's full size. */
  readonly maxWidth?: number;
  readonly maxHeight?: number;
  /** At least this JPEG quality; unset: the source's best. */
  readonly quality?: number;
}

/**
 * What the readers of a source's frames need now (issue 20: a source does not do work no reader
 * needs). The stream that owns the source keeps it (src/hub/reader-demand.ts) and hands it over
 * with `Source.useDemand`; a source that can do less for fewer needs reads it: the demo copies
 * its raw pixels only for a reader that encodes from pixels, a browser session's screencast
 * sends the largest size and highest quality some reader shows.
 */
export interface Demand {
  /** Whether some reader wants a frame of this shape to carry its decoded pixels. */
  wantsPixels(shape: FrameShape): boolean;
  /**
   * The largest picture and the highest quality some reader needs of a source that could send
   * `full`, never above it; `undefined` when nobody reads.
   */
  largest(full: PictureSize): PictureSize | undefined;
  /** Calls `listener` after each change of what the readers need; returns what stops that. */
  onChange(listener: () => void): () => void;
}

/** The demand of a source no stream owns: every reader there could be (pixels, full size, best quality). */
export const FULL_DEMAND: Demand = Object.freeze({
  wantsPixels: () => true,
  largest: (full: PictureSize) => full,
  onChange: () => () => {},
});
