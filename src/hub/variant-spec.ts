import type { ImageFormat } from '../image/sniff.js';
import type { FrameShape } from '../sources/demand.js';

/**
 * What a subscriber wants a frame as. Two subscribers with equal specs share the same bytes.
 * Not changed once handed to a VariantCache: it may remember the last spec object it served.
 */
export interface VariantSpec {
  readonly format: ImageFormat;
  /** 1-100. */
  readonly quality: number;
  /** Fit inside this box, keeping the aspect ratio; never enlarges. */
  readonly maxWidth?: number;
  readonly maxHeight?: number;
  /** Overlay stream name, time and measured fps (seeds/004's `current_osd_frame`). */
  readonly osd?: boolean;
}

/** Distinct specs kept by `sharedSpec`; beyond it, specs are copied but not shared. */
const SHARED_SPECS_MAX = 1024;
const sharedSpecs = new Map<string, VariantSpec>();

/**
 * One frozen object per distinct spec, shared by every subscriber that asks for it: clients
 * with equal options then pass the same object, and a VariantCache answers them all from its
 * last hit by identity, with no per-client lookup (docs/benchmarks.md, "Fewer objects per
 * delivery"). Build it when a client's options change, not per frame.
 */
export function sharedSpec(spec: VariantSpec): VariantSpec {
  // PNG and GIF are lossless: clients asking for them at any quality share one spec.
  const lossless = spec.format === 'png' || spec.format === 'gif';
  const key = `${spec.format}:${lossless ? '' : spec.quality}:${spec.maxWidth ?? ''}x${spec.maxHeight ?? ''}:${spec.osd === true ? 'osd' : ''}`;
  let shared = sharedSpecs.get(key);
  if (!shared) {
    shared = Object.freeze({
      format: spec.format,
      quality: spec.quality,
      osd: spec.osd === true,
      ...(spec.maxWidth !== undefined && { maxWidth: spec.maxWidth }),
      ...(spec.maxHeight !== undefined && { maxHeight: spec.maxHeight }),
    });
    if (sharedSpecs.size < SHARED_SPECS_MAX) sharedSpecs.set(key, shared);
  }
  return shared;
}

/** Output size of `spec` applied to a `width`x`height` frame. */
export function targetSize(width: number, height: number, spec: Pick<VariantSpec, 'maxWidth' | 'maxHeight'>): { width: number; height: number } {
  const scale = Math.min(1, (spec.maxWidth ?? Infinity) / width, (spec.maxHeight ?? Infinity) / height);
  if (scale >= 1) return { width, height };
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The quality that changes the bytes, or `undefined` for lossless formats, where it changes nothing. */
export function effectiveQuality(spec: VariantSpec): number | undefined {
  return spec.format === 'png' || spec.format === 'gif' ? undefined : spec.quality;
}

/**
 * Whether `spec` is the frame's own bytes, untouched: same size, format and quality, no overlay.
 * A lossy frame's bytes also serve a higher quality when they are all there is (`hasPixels`
 * false): re-encoding a decoded JPEG at a higher quality only grows it (what the source's
 * encoder threw away does not come back); from raw pixels it is a better picture.
 */
export function passesThrough(frame: FrameShape, spec: VariantSpec, hasPixels: boolean): boolean {
  const size = targetSize(frame.width, frame.height, spec);
  if (size.width !== frame.width || size.height !== frame.height || spec.osd === true || spec.format !== frame.format) return false;
  const quality = effectiveQuality(spec);
  if (quality === undefined) return true;
  if (frame.quality === undefined) return false;
  return quality === frame.quality || (quality > frame.quality && !hasPixels);
}

/** Specs that give the same bytes on every frame have the same key. */
export function specKey(spec: VariantSpec): string {
  return `${spec.format}:${effectiveQuality(spec) ?? ''}:${spec.maxWidth ?? ''}x${spec.maxHeight ?? ''}:${spec.osd === true ? 'osd' : ''}`;
}
