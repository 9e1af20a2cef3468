import { createRequire } from 'node:module';
import sharp from 'sharp';
import type { RawImage } from './raster.js';
import { ScratchPool } from './scratch-pool.js';

/**
 * JPEG encoding of raw RGB(A) pixels straight through libjpeg-turbo's TurboJPEG API
 * (@julusian/jpeg-turbo, whose npm package ships the library built for each platform).
 *
 * Why not sharp: for a 1280x720 frame sharp spends about as long in libvips' pipeline (setting it
 * up, its worker threads, copying strips through regions) as in the JPEG encoder itself, so it
 * reaches about half of what libjpeg-turbo alone does on the same frame; this gets within a few
 * per cent of libjpeg-turbo's own `tjbench` (docs/benchmarks.md, "JPEG encode against
 * libjpeg-turbo"). sharp stays for everything else: decoding, resizing, WebP, PNG, GIF.
 */

interface TurboBinding {
  FORMAT_RGB: number;
  FORMAT_RGBA: number;
  SAMP_420: number;
  SAMP_444: number;
  bufferSize(options: { width: number; height: number; subsampling: number }): number;
  compress(raw: Buffer, out: Buffer, options: { format: number; width: number; height: number; subsampling: number; quality: number }): Promise<Buffer>;
  decompress(jpeg: Buffer, out: Buffer, options: { format: number }): Promise<{ data: Buffer; width: number; height: number }>;
}

/** The binding, or `undefined` where its package has no build for this platform (sharp is used then). */
const turbo: TurboBinding | undefined = (() => {
  try {
    return createRequire(import.meta.url)('@julusian/jpeg-turbo') as TurboBinding;
  } catch {
    return undefined;
  }
})();

/**
 * Highest quality encoded here. The binding always uses libjpeg-turbo's fast integer DCT, which
 * libjpeg-turbo documents as indistinguishable from the accurate one up to quality 90 and
 * visibly worse above it; higher qualities go through sharp.
 */
export const TURBO_MAX_QUALITY = 90;

/** Whether `encodeJpegTurbo` can encode at `quality` on this machine. */
export function canEncodeJpegTurbo(quality: number): boolean {
  return turbo !== undefined && quality >= 1 && quality <= TURBO_MAX_QUALITY;
}

/** Whether `decodeJpegTurbo` works on this machine. */
export function canDecodeJpegTurbo(): boolean {
  return turbo !== undefined;
}

/**
 * Decodes a JPEG of `width`x`height` (its header's size) into RGB pixels in `out` (at least
 * width*height*3 bytes). Rejects when the bytes are not a JPEG of that size. Runs on libuv's
 * thread pool.
 */
export async function decodeJpegTurbo(jpeg: Buffer, width: number, height: number, out: Buffer): Promise<RawImage> {
  if (!turbo) throw new Error('libjpeg-turbo binding not available');
  const decoded = await turbo.decompress(jpeg, out, { format: turbo.FORMAT_RGB });
  if (decoded.width !== width || decoded.height !== height) throw new Error(`JPEG is ${decoded.width}x${decoded.height}, not ${width}x${height}`);
  return { data: out.subarray(0, width * height * 3), width, height, channels: 3 };
}

/**
 * TurboJPEG writes into a buffer of its worst-case size (several times the JPEG); allocating
 * that per encode and keeping a slice of it would pin megabytes per variant, so the JPEG is
 * copied out and the buffer kept for the next encode.
 */
const outputs = new ScratchPool(2);

/**
 * Encodes `raw` as a baseline JPEG, chroma subsampled 4:2:0 below quality 90 and not at 90
 * (sharp's choice too, so both paths give the same kind of file). Runs on libuv's thread pool.
 * Only call it when `canEncodeJpegTurbo(quality)`.
 */
export async function encodeJpegTurbo(raw: RawImage, quality: number): Promise<Buffer> {
  if (!turbo) throw new Error('libjpeg-turbo binding not available');
  const subsampling = quality >= 90 ? turbo.SAMP_444 : turbo.SAMP_420;
  const { width, height } = raw;
  const out = outputs.take(turbo.bufferSize({ width, height, subsampling }));
  try {
    const format = raw.channels === 4 ? turbo.FORMAT_RGBA : turbo.FORMAT_RGB;
    const view = await turbo.compress(raw.data, out, { format, width, height, subsampling, quality });
    return Buffer.from(view);
  } finally {
    outputs.give(out);
  }
}

/**
 * Raw pixels to a baseline JPEG the fastest way this machine has: libjpeg-turbo where it can
 * (see `canEncodeJpegTurbo`), else sharp with the same settings framehub's encoder uses.
 */
export function encodeJpeg(raw: RawImage, quality: number): Promise<Buffer> {
  if (canEncodeJpegTurbo(quality)) return encodeJpegTurbo(raw, quality);
  const { data, width, height, channels } = raw;
  // Huffman optimisation doubles encode time for 1.5-4 % smaller files: not worth it live.
  return sharp(data, { raw: { width, height, channels } }).jpeg({ quality, optimiseCoding: false }).toBuffer();
}
