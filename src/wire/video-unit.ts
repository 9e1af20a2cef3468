import { ErrorCode, FramehubError } from './errors.js';

/**
 * The H.264 video route's binary message (`WS /video/:id`): one message per encoded picture.
 * Types, layout and the parser, isomorphic (the browser's VideoPlayer reads it with this); the
 * server writes it with src/protocols/video-unit.ts.
 *
 * Layout, big-endian:
 *
 * | offset | size | field                                                                 |
 * |--------|------|-----------------------------------------------------------------------|
 * | 0      | 1    | magic `0x56` ("V")                                                    |
 * | 1      | 1    | version, 1                                                            |
 * | 2      | 1    | flags: bit 0 keyframe, bit 1 decoder config present                   |
 * | 3      | 1    | n: length of the codec string                                         |
 * | 4      | 8    | capture time, ms since the epoch (float64)                            |
 * | 12     | 4    | source frame sequence number (uint32)                                 |
 * | 16     | 2    | width (uint16)                                                        |
 * | 18     | 2    | height (uint16)                                                       |
 * | 20     | n    | codec string, ASCII (RFC 6381, e.g. `avc1.42C01F`)                    |
 * | 20+n   | 2    | c: length of the decoder config, only when flag bit 1 is set          |
 * | 22+n   | c    | decoder config: an avcC record (ISO/IEC 14496-15), WebCodecs' `description` |
 * | …      | rest | the access unit: NAL units, each after its 4-byte big-endian length   |
 */
export const VIDEO_UNIT_MAGIC = 0x56;
export const VIDEO_UNIT_VERSION = 1;
export const VIDEO_UNIT_FIXED_HEADER = 20;

export const VideoUnitFlag = {
  Keyframe: 1,
  Config: 2,
} as const;

/** A parsed video unit message. `config` and `data` are views into the message. */
export interface VideoUnitMessage {
  keyframe: boolean;
  /** Capture time of the source frame, ms since the epoch. */
  capturedAt: number;
  seq: number;
  width: number;
  height: number;
  codec: string;
  /** The avcC record; on keyframes. */
  config: Uint8Array | undefined;
  data: Uint8Array;
}

/** The tiers a client may ask for with `?tier=`, largest first. */
export const VIDEO_TIER_NAMES = ['720p', '480p', '360p'] as const;
export type VideoTierName = (typeof VIDEO_TIER_NAMES)[number];
/** What a viewer asks for: a tier pinned, or `auto` (the tier follows its delivered bandwidth). */
export type VideoTierChoice = VideoTierName | 'auto';

/** Reads one message; a message that is not one throws a FramehubError `invalid_message`. */
export function parseVideoUnit(message: Uint8Array): VideoUnitMessage {
  const refuse = (why: string) => new FramehubError(ErrorCode.InvalidMessage, `not a video unit: ${why}`);
  if (message.length < VIDEO_UNIT_FIXED_HEADER) throw refuse(`${message.length} bytes is shorter than the header`);
  if (message[0] !== VIDEO_UNIT_MAGIC) throw refuse('wrong magic byte');
  if (message[1] !== VIDEO_UNIT_VERSION) throw refuse(`version ${message[1]} is not ${VIDEO_UNIT_VERSION}`);
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const flags = message[2]!;
  const codecLength = message[3]!;
  let at = VIDEO_UNIT_FIXED_HEADER + codecLength;
  if (message.length < at) throw refuse('codec string past the end');
  let codec = '';
  for (let i = VIDEO_UNIT_FIXED_HEADER; i < at; i++) {
    const byte = message[i]!;
    if (byte < 0x21 || byte > 0x7e) throw refuse('codec string is not printable ASCII');
    codec += String.fromCharCode(byte);
  }
  let config: Uint8Array | undefined;
  if (flags & VideoUnitFlag.Config) {
    if (message.length < at + 2) throw refuse('config length past the end');
    const configLength = view.getUint16(at);
    at += 2;
    if (message.length < at + configLength) throw refuse('config past the end');
    config = message.subarray(at, at + configLength);
    at += configLength;
  }
  const capturedAt = view.getFloat64(4);
  if (!Number.isFinite(capturedAt)) throw refuse('capture time is not a number');
  return {
    keyframe: (flags & VideoUnitFlag.Keyframe) !== 0,
    capturedAt,
    seq: view.getUint32(12),
    width: view.getUint16(16),
    height: view.getUint16(18),
    codec,
    config,
    data: message.subarray(at),
  };
}
