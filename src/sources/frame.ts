import type { ImageFormat } from '../image/sniff.js';
import type { RawImage } from '../image/raster.js';

/**
 * One encoded image as a source produced it. Frames are immutable and shared by every
 * subscriber; everything derived from one (variants, strings, wire messages) hangs off it.
 */
export interface Frame {
  readonly bytes: Buffer;
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** Sequence number within the stream, starting at 1. */
  readonly seq: number;
  /** Wall-clock capture time, ms since the epoch (float: sub-ms precision where the source has it). */
  readonly capturedAt: number;
  /**
   * Encoder quality of `bytes` when the source knows it: a variant at that quality passes the
   * bytes through, and so does a higher one when there are no `raw` pixels to encode better from.
   */
  readonly quality?: number;
  /**
   * Decoded pixels of `bytes`, if the source had them and some reader needs them (`Source.demand`);
   * the stream drops them once a newer frame arrives. A reader without them decodes `bytes`.
   */
  readonly raw?: RawImage;
  readonly meta?: Readonly<Record<string, unknown>>;
}
