import sharp, { type Sharp } from 'sharp';
import type { Frame } from '../sources/frame.js';
import type { RawImage } from '../image/raster.js';
import { targetSize, type VariantSpec } from './variant-spec.js';
import { drawLabel } from '../image/raster.js';

export interface EncodedImage {
  bytes: Buffer;
  width: number;
  height: number;
}

/** Turns a frame into the bytes of one variant. One method, so benchmarks and tests can swap it. */
export interface Encoder {
  encode(frame: Frame, spec: VariantSpec, overlay?: string): Promise<EncodedImage>;
}

/** The default encoder: sharp (libvips), tuned for live frames. */
export class SharpEncoder implements Encoder {
  async encode(frame: Frame, spec: VariantSpec, overlay?: string): Promise<EncodedImage> {
    const size = targetSize(frame.width, frame.height, spec);
    const resize = size.width !== frame.width || size.height !== frame.height;
    let pipeline = input(frame);
    if (resize) pipeline = pipeline.resize(size.width, size.height, { fit: 'fill' });
    if (overlay !== undefined) {
      // Draw on decoded pixels, then encode those: one decode and one encode per variant.
      const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const img: RawImage = { data, width: info.width, height: info.height, channels: 3 };
      const scale = Math.max(1, Math.round(img.width / 640));
      drawLabel(img, overlay, 8 * scale, 8 * scale, 2 * scale);
      pipeline = sharp(data, { raw: { width: img.width, height: img.height, channels: 3 } });
    }
    const bytes = await format(pipeline, spec).toBuffer();
    return { bytes, width: size.width, height: size.height };
  }
}

function input(frame: Frame): Sharp {
  if (frame.raw) {
    const { data, width, height, channels } = frame.raw;
    return sharp(data, { raw: { width, height, channels } });
  }
  return sharp(frame.bytes);
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
