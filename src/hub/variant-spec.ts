import type { ImageFormat } from '../image/sniff.js';

/** What a subscriber wants a frame as. Two subscribers with equal specs share the same bytes. */
export interface VariantSpec {
  format: ImageFormat;
  /** 1-100. */
  quality: number;
  /** Fit inside this box, keeping the aspect ratio; never enlarges. */
  maxWidth?: number;
  maxHeight?: number;
  /** Overlay stream name, time and measured fps (seeds/004's `current_osd_frame`). */
  osd?: boolean;
}

/** Output size of `spec` applied to a `width`x`height` frame. */
export function targetSize(width: number, height: number, spec: VariantSpec): { width: number; height: number } {
  const scale = Math.min(1, (spec.maxWidth ?? Infinity) / width, (spec.maxHeight ?? Infinity) / height);
  if (scale >= 1) return { width, height };
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}
