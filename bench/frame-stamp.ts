/**
 * A capture stamp inside a JPEG: a COM segment right after SOI holding a magic, the frame's
 * `capturedAt` (float64, ms since the epoch, sub-ms precision) and its sequence number.
 * Decoders skip COM segments, so stamped frames are still valid JPEGs; clients read the stamp
 * from the first bytes of each message to measure frame-ready → client-has-it latency across
 * processes (same machine, same clock: performance.timeOrigin + performance.now()).
 */

const MAGIC = 0x46484231; // 'FHB1'
const PAYLOAD = 4 + 8 + 4;
/** SOI (2) + COM marker (2) + length (2) + payload. */
export const STAMP_END = 2 + 2 + 2 + PAYLOAD;

/** A copy of `jpeg` (which must start with SOI) with the stamp inserted after SOI. */
export function stampJpeg(jpeg: Buffer, capturedAt: number, seq: number): Buffer {
  const out = Buffer.allocUnsafe(jpeg.length + STAMP_END - 2);
  out[0] = 0xff;
  out[1] = 0xd8;
  out[2] = 0xff;
  out[3] = 0xfe;
  out.writeUInt16BE(2 + PAYLOAD, 4);
  out.writeUInt32BE(MAGIC, 6);
  out.writeDoubleBE(capturedAt, 10);
  out.writeUInt32BE(seq >>> 0, 18);
  jpeg.copy(out, STAMP_END, 2);
  return out;
}

export interface Stamp {
  capturedAt: number;
  seq: number;
}

/** Reads the stamp from the first `STAMP_END` bytes of a message, or `undefined` if there is none. */
export function readStamp(head: Buffer): Stamp | undefined {
  if (head.length < STAMP_END || head[2] !== 0xff || head[3] !== 0xfe || head.readUInt32BE(6) !== MAGIC) return undefined;
  return { capturedAt: head.readDoubleBE(10), seq: head.readUInt32BE(18) };
}
