import type { AccessUnit } from '../hub/access-unit.js';

/**
 * Access units as an FLV byte stream, for the recorder's ffmpeg: FLV is the simplest container
 * ffmpeg reads from a pipe that carries a timestamp per picture and takes H.264 as it is held
 * here (avcC configuration, 4-byte length-prefixed NAL units). Raw Annex-B carries no times,
 * so ffmpeg would stamp units as they arrive; units written late (a pre-record buffer, a writer
 * that was behind) would then be squeezed together. With FLV each keeps its capture time.
 */

/** `FLV`, version 1, video only, header size 9, then the first PreviousTagSize (0). */
export const FLV_HEADER = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x01, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00]);

const TAG_VIDEO = 9;
const CODEC_AVC = 7;
const FRAME_KEY = 1;
const FRAME_INTER = 2;
const AVC_SEQUENCE_HEADER = 0;
const AVC_NALU = 1;

/** One video tag: tag header, the 5-byte AVC video header, `payload`, and the tag's size after it. */
function videoTag(timestampMs: number, frameType: number, packetType: number, payload: Buffer): Buffer {
  const dataSize = 5 + payload.length;
  const tag = Buffer.allocUnsafe(11 + dataSize + 4);
  const ts = Math.max(0, Math.round(timestampMs)) >>> 0;
  tag[0] = TAG_VIDEO;
  tag.writeUIntBE(dataSize, 1, 3);
  // 24 low bits, then the 8 high ones (TimestampExtended).
  tag.writeUIntBE(ts & 0xffffff, 4, 3);
  tag[7] = (ts >>> 24) & 0xff;
  tag.writeUIntBE(0, 8, 3); // StreamID
  tag[11] = (frameType << 4) | CODEC_AVC;
  tag[12] = packetType;
  tag.writeUIntBE(0, 13, 3); // composition time: no B-frames, decode order is display order
  payload.copy(tag, 16);
  tag.writeUInt32BE(11 + dataSize, 16 + payload.length);
  return tag;
}

/**
 * Writes units as FLV tags with times from the first unit written: a sequence header (the avcC)
 * before the first keyframe and whenever the configuration changes (a resized source), then one
 * tag per unit. Times never go backwards.
 */
export class FlvWriter {
  #base: number | undefined;
  #last = 0;
  #config: Buffer | undefined;

  /** The bytes for `unit`: its tag, after a sequence header when its configuration is new. */
  tags(unit: AccessUnit): Buffer[] {
    this.#base ??= unit.capturedAt;
    const at = Math.max(this.#last, unit.capturedAt - this.#base);
    this.#last = at;
    const out: Buffer[] = [];
    if (unit.keyframe && unit.config && !(this.#config && unit.config.equals(this.#config))) {
      this.#config = unit.config;
      out.push(videoTag(at, FRAME_KEY, AVC_SEQUENCE_HEADER, unit.config));
    }
    out.push(videoTag(at, unit.keyframe ? FRAME_KEY : FRAME_INTER, AVC_NALU, unit.data));
    return out;
  }
}
