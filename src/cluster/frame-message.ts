import type { SourceFrame } from '../sources/source.js';
import { MIME_TYPES, type ImageFormat } from '../image/sniff.js';

/**
 * A frame as it crosses Redis: a 4-byte big-endian header length, the header as JSON (format,
 * size, capture time, quality, meta), then the encoded bytes untouched. One buffer per source
 * frame, built once by the node that runs the source; decoded pixels (`raw`) stay behind.
 */
export function encodeFrameMessage(frame: SourceFrame): Buffer {
  const header = Buffer.from(JSON.stringify({
    format: frame.format,
    width: frame.width,
    height: frame.height,
    capturedAt: frame.capturedAt,
    ...(frame.quality !== undefined && { quality: frame.quality }),
    ...(frame.meta !== undefined && { meta: frame.meta }),
  }));
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(header.length, 0);
  return Buffer.concat([prefix, header, frame.bytes]);
}

/** The frame in `message`, or `undefined` for anything that is not one (never throws). */
export function decodeFrameMessage(message: Buffer): SourceFrame | undefined {
  if (message.length < 4) return undefined;
  const headerLength = message.readUInt32BE(0);
  if (headerLength > message.length - 4) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(message.subarray(4, 4 + headerLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null) return undefined;
  const { format, width, height, capturedAt, quality, meta } = header as Record<string, unknown>;
  if (typeof format !== 'string' || !Object.hasOwn(MIME_TYPES, format)) return undefined;
  if (!isCount(width) || !isCount(height) || typeof capturedAt !== 'number' || !Number.isFinite(capturedAt)) return undefined;
  return {
    bytes: message.subarray(4 + headerLength),
    format: format as ImageFormat,
    width,
    height,
    capturedAt,
    ...(typeof quality === 'number' && { quality }),
    ...(typeof meta === 'object' && meta !== null && !Array.isArray(meta) && { meta: meta as Record<string, unknown> }),
  };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
