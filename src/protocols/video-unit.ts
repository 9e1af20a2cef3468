import type { AccessUnit } from '../hub/access-unit.js';
import { VIDEO_TIER_NAMES, VIDEO_UNIT_FIXED_HEADER, VIDEO_UNIT_MAGIC, VIDEO_UNIT_VERSION, VideoUnitFlag, type VideoTierChoice } from '../wire/video-unit.js';
import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { describe, parseJsonObject } from './values.js';

/**
 * Writes an access unit as the video route's binary message (layout in src/wire/video-unit.ts).
 * Memoised on the unit: every viewer of a tier is sent the same Buffer.
 */
export function videoUnitMessage(unit: AccessUnit): Buffer {
  return unit.memo('wire:video-unit', encodeVideoUnit);
}

export function encodeVideoUnit(unit: AccessUnit): Buffer {
  const codec = Buffer.from(unit.codec, 'latin1');
  if (codec.length > 255) throw new RangeError('codec string longer than 255 bytes');
  const config = unit.keyframe ? unit.config : undefined;
  if (config && config.length > 0xffff) throw new RangeError('decoder config longer than 65535 bytes');
  const header = VIDEO_UNIT_FIXED_HEADER + codec.length + (config ? 2 + config.length : 0);
  const out = Buffer.allocUnsafe(header + unit.data.length);
  out[0] = VIDEO_UNIT_MAGIC;
  out[1] = VIDEO_UNIT_VERSION;
  out[2] = (unit.keyframe ? VideoUnitFlag.Keyframe : 0) | (config ? VideoUnitFlag.Config : 0);
  out[3] = codec.length;
  out.writeDoubleBE(unit.capturedAt, 4);
  out.writeUInt32BE(unit.seq >>> 0, 12);
  out.writeUInt16BE(Math.min(unit.width, 0xffff), 16);
  out.writeUInt16BE(Math.min(unit.height, 0xffff), 18);
  codec.copy(out, VIDEO_UNIT_FIXED_HEADER);
  let at = VIDEO_UNIT_FIXED_HEADER + codec.length;
  if (config) {
    out.writeUInt16BE(config.length, at);
    config.copy(out, at + 2);
    at += 2 + config.length;
  }
  unit.data.copy(out, at);
  return out;
}

/** `?tier=auto|720p|480p|360p` (default auto; a smaller source is never enlarged). */
export function parseVideoQuery(query: URLSearchParams): { tier: VideoTierChoice } {
  const all = query.getAll('tier');
  if (all.length > 1) throw new ProtocolError(ErrorCode.InvalidQuery, `tier is given ${all.length} times`);
  return { tier: all[0] === undefined ? 'auto' : tierChoice(all[0], ErrorCode.InvalidQuery) };
}

/** The one command: `{"type":"set_tier","tier":"480p"}` pins the viewer to a tier, `"auto"` lets it follow its bandwidth. */
export function parseVideoCommand(text: string): { type: 'set_tier'; tier: VideoTierChoice } {
  const message = parseJsonObject(text);
  if (message['type'] === 'set_tier') return { type: 'set_tier', tier: tierChoice(message['tier'], ErrorCode.InvalidOptions) };
  if (message['type'] === undefined) throw new ProtocolError(ErrorCode.InvalidMessage, 'message needs a "type" field');
  throw new ProtocolError(ErrorCode.UnknownCommand, `unknown message type ${describe(message['type'])} (known: set_tier)`);
}

function tierChoice(raw: unknown, code: ErrorCode): VideoTierChoice {
  const found = (['auto', ...VIDEO_TIER_NAMES] as const).find((name) => name === raw);
  if (!found) throw new ProtocolError(code, `tier must be one of auto, ${VIDEO_TIER_NAMES.join(', ')}, not ${describe(raw)}`);
  return found;
}
