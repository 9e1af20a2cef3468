import sharp, { type Sharp } from 'sharp';
import type { Frame } from '../sources/frame.js';
import type { RawImage } from '../image/raster.js';
import { targetSize, type VariantSpec } from './variant-spec.js';
import { drawLabel } from '../image/raster.js';
import { ScratchPool } from '../image/scratch-pool.js';
import { canDecodeJpegTurbo, canEncodeJpegTurbo, decodeJpegTurbo, encodeJpeg, encodeJpegTurbo } from '../image/jpeg-turbo.js';

export interface EncodedImage {
  bytes: Buffer;
  width: number;
  height: number;
}

/** Turns a frame into the bytes of one variant. One method, so benchmarks and tests can swap it. */
export interface Encoder {
  encode(frame: Frame, spec: VariantSpec, overlay?: string): Promise<EncodedImage>;
}

/**
 * Where a variant's pixels come from (`encodePlan`):
 * - `raw`: the frame's decoded pixels, as they are (same size);
 * - `raw-resize`: the frame's decoded pixels, resized by libvips;
 * - `resize`: the frame's bytes, decoded and resized by libvips in one pipeline; for a JPEG that
 *   lets libjpeg decode at 1/2, 1/4 or 1/8 of the size straight from the DCT coefficients
 *   ("shrink-on-load": most of the downscale for the price of a partial decode) before
 *   libvips' resampler finishes the rest;
 * - `decode`: the frame's bytes, decoded in full (same size, another quality or format).
 */
export type PixelSource = 'raw' | 'raw-resize' | 'resize' | 'decode';

export interface EncodePlan {
  source: PixelSource;
  /** Decoded (`decode` of a JPEG) and/or encoded (JPEG out) by libjpeg-turbo directly rather than through libvips. */
  turbo: boolean;
}

/**
 * How `SharpEncoder` makes a variant. Raw pixels, where a frame has them, beat its JPEG bytes
 * even for a downscale: resampling pixels in memory costs less than the entropy decoding a
 * shrink-on-load still does in full (bench: `--scenario encode`, "variants of a JPEG frame").
 */
export function encodePlan(frame: Frame, spec: VariantSpec): EncodePlan {
  const size = targetSize(frame.width, frame.height, spec);
  const resize = size.width !== frame.width || size.height !== frame.height;
  const source: PixelSource = resize ? (frame.raw ? 'raw-resize' : 'resize') : frame.raw ? 'raw' : 'decode';
  // libjpeg-turbo only where the pixels need no libvips step: handing raw pixels over from a
  // libvips resize costs about what the faster encoder saves.
  const turbo = spec.format === 'jpeg' && canEncodeJpegTurbo(spec.quality)
    && (source === 'raw' || (source === 'decode' && frame.format === 'jpeg' && canDecodeJpegTurbo()));
  return { source, turbo };
}

/**
 * The default encoder: sharp (libvips) for resizing and every format, and libjpeg-turbo
 * directly for JPEG to JPEG and raw pixels to JPEG at the same size (about twice as fast per
 * frame as libvips' jpegsave, see jpeg-turbo.ts).
 */
export class SharpEncoder implements Encoder {
  async encode(frame: Frame, spec: VariantSpec, overlay?: string): Promise<EncodedImage> {
    const size = targetSize(frame.width, frame.height, spec);
    const plan = encodePlan(frame, spec);
    let bytes: Buffer;
    if (overlay !== undefined) {
      // Draw on decoded pixels, then encode those: one decode and one encode per variant.
      const img = await pixels(frame, plan, size, true);
      try {
        const scale = Math.max(1, Math.round(img.width / 640));
        drawLabel(img, overlay, 8 * scale, 8 * scale, 2 * scale);
        bytes = await encodeRaw(img, spec);
      } finally {
        if (img.pooled) scratch.give(img.data);
      }
    } else if (plan.turbo) {
      const img = await pixels(frame, plan, size, false);
      try {
        bytes = await encodeJpegTurbo(img, spec.quality);
      } finally {
        if (img.pooled) scratch.give(img.data);
      }
    } else {
      bytes = await format(pipeline(frame, plan.source, size), spec).toBuffer();
    }
    return { bytes, width: size.width, height: size.height };
  }
}

/** Pixels copied or decoded for one encode (see ScratchPool for why they are kept). */
const scratch = new ScratchPool(2);

function pipeline(frame: Frame, source: PixelSource, size: { width: number; height: number }): Sharp {
  switch (source) {
    case 'raw':
    case 'raw-resize': {
      const { data, width, height, channels } = frame.raw!;
      const input = sharp(data, { raw: { width, height, channels } });
      return source === 'raw' ? input : input.resize(size.width, size.height, { fit: 'fill' });
    }
    // Resizing from the bytes in the same pipeline is what lets sharp choose the JPEG
    // shrink-on-load factor; decoding first and resizing the pixels would decode in full.
    case 'resize': return sharp(frame.bytes).resize(size.width, size.height, { fit: 'fill' });
    case 'decode': return sharp(frame.bytes);
  }
}

/**
 * The variant's pixels at its size. `writable` ones are never the frame's own buffer, which
 * every variant and subscriber shares. `pooled` ones go back to `scratch` after the encode.
 */
async function pixels(frame: Frame, plan: EncodePlan, size: { width: number; height: number }, writable: boolean): Promise<RawImage & { pooled?: true }> {
  const raw = frame.raw;
  if (plan.source === 'raw' && raw && !writable) return raw;
  if (plan.source === 'raw' && raw && raw.channels === 3) {
    const data = scratch.take(raw.data.length);
    raw.data.copy(data);
    return { ...raw, data, pooled: true };
  }
  if (plan.source === 'decode' && frame.format === 'jpeg' && canDecodeJpegTurbo()) {
    const data = scratch.take(frame.width * frame.height * 3);
    try {
      return { ...await decodeJpegTurbo(frame.bytes, frame.width, frame.height, data), pooled: true };
    } catch {
      // TurboJPEG refuses what libvips still reads (CMYK, a header that disagrees with the frame's size).
      scratch.give(data);
    }
  }
  const { data, info } = await pipeline(frame, plan.source, size).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: 3 };
}

function encodeRaw(img: RawImage, spec: VariantSpec): Promise<Buffer> {
  if (spec.format === 'jpeg') return encodeJpeg(img, spec.quality);
  return format(sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } }), spec).toBuffer();
}

function format(pipeline: Sharp, spec: VariantSpec): Sharp {
  switch (spec.format) {
    // Huffman optimisation doubles JPEG encode time for 1.5-4 % smaller files: not worth it live.
    case 'jpeg': return pipeline.jpeg({ quality: spec.quality, optimiseCoding: false });
    // WebP is only fast enough for live frames at effort 0.
    case 'webp': return pipeline.webp({ quality: spec.quality, effort: 0 });
    // PNG is lossless; quality has no meaning, so favour speed.
    case 'png': return pipeline.png({ compressionLevel: 1 });
    case 'gif': return pipeline.gif();
  }
}
