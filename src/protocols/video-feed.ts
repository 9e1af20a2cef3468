import type { ImageFormat } from '../image/sniff.js';
import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { FPS_RANGE, QUALITY_RANGE, bool, describe, imageFormat, intInRange, parseJsonObject } from './values.js';
import { seekValue, speedValue } from './playback-command.js';
import type { PlaybackChange } from '../wire/playback.js';

/**
 * The binary video protocol of seeds/004 (`WS /ws/video_feed`): every frame is one binary
 * message holding the image bytes; the client may send JSON text commands.
 */

export interface VideoFeedOptions {
  stream?: string;
  fps: number;
  quality: number;
  format: ImageFormat;
  osd: boolean;
  /** Fit frames inside this box; `null` = source size. */
  resize: { width: number; height: number } | null;
}

export type VideoFeedCommand =
  | { type: 'set_quality'; quality: number }
  /** `seek` / `speed` (`value`), `pause`, `play`: for a `recording:<id>` stream. */
  | { type: 'playback'; change: PlaybackChange }
  | { type: 'config'; changes: Partial<Omit<VideoFeedOptions, 'stream'>> };

const SIZE_RANGE = [16, 7680] as const;

/** Options from the connection URL: `stream`, `fps`, `quality`, `format`, `osd`. */
export function parseVideoFeedQuery(query: URLSearchParams, defaults: VideoFeedOptions): VideoFeedOptions {
  const code = ErrorCode.InvalidQuery;
  const get = (name: string) => {
    const all = query.getAll(name);
    if (all.length > 1) throw new ProtocolError(code, `${name} is given ${all.length} times`);
    return all[0];
  };
  const stream = get('stream');
  const fps = get('fps');
  const quality = get('quality');
  const format = get('format');
  const osd = get('osd');
  if (stream !== undefined && stream === '') throw new ProtocolError(code, 'stream must not be empty');
  return {
    ...(stream !== undefined && { stream }),
    fps: fps === undefined ? defaults.fps : intInRange(fps, 'fps', FPS_RANGE, code),
    quality: quality === undefined ? defaults.quality : intInRange(quality, 'quality', QUALITY_RANGE, code),
    format: format === undefined ? defaults.format : imageFormat(format, 'format', code),
    osd: osd === undefined ? defaults.osd : bool(osd, 'osd', code),
    resize: defaults.resize,
  };
}

/**
 * `{"type":"command","action":"set_quality","value":N}` and
 * `{"type":"config","quality":N,"osd":bool,"resize":false|{width,height}|[w,h],"fps":N,"format":...}`.
 */
export function parseVideoFeedCommand(text: string): VideoFeedCommand {
  const message = parseJsonObject(text);
  const code = ErrorCode.InvalidOptions;
  if (message['type'] === 'command') {
    if (message['action'] === 'set_quality') {
      return { type: 'set_quality', quality: intInRange(message['value'], 'value', QUALITY_RANGE, code) };
    }
    const playback = playbackAction(message['action'], message['value']);
    if (playback) return { type: 'playback', change: playback };
    throw new ProtocolError(ErrorCode.UnknownCommand, `unknown action ${describe(message['action'])} (known: set_quality, seek, speed, pause, play)`);
  }
  if (message['type'] === 'config') {
    const changes: Partial<Omit<VideoFeedOptions, 'stream'>> = {};
    for (const [key, value] of Object.entries(message)) {
      if (key === 'type') continue;
      if (key === 'quality') changes.quality = intInRange(value, 'quality', QUALITY_RANGE, code);
      else if (key === 'fps') changes.fps = intInRange(value, 'fps', FPS_RANGE, code);
      else if (key === 'format') changes.format = imageFormat(value, 'format', code);
      else if (key === 'osd') changes.osd = bool(value, 'osd', code);
      else if (key === 'resize') changes.resize = parseResize(value);
      else throw new ProtocolError(code, `unknown config key ${describe(key)} (known: quality, fps, format, osd, resize)`);
    }
    return { type: 'config', changes };
  }
  if (message['type'] === undefined) throw new ProtocolError(ErrorCode.InvalidMessage, 'message needs a "type" field');
  throw new ProtocolError(ErrorCode.UnknownCommand, `unknown message type ${describe(message['type'])} (known: command, config)`);
}

/** A recording's playback commands, in the shape of `set_quality`: `{"type":"command","action":"seek","value":12.5}`. */
function playbackAction(action: unknown, value: unknown): PlaybackChange | undefined {
  switch (action) {
    case 'seek': return { seek: seekValue(value, 'value') };
    case 'speed': return { speed: speedValue(value, 'value') };
    case 'pause': return { paused: true };
    case 'play': return { paused: false };
    default: return undefined;
  }
}

function parseResize(value: unknown): { width: number; height: number } | null {
  const code = ErrorCode.InvalidOptions;
  if (value === false || value === null) return null;
  if (Array.isArray(value) && value.length === 2) {
    return { width: intInRange(value[0], 'resize[0]', SIZE_RANGE, code), height: intInRange(value[1], 'resize[1]', SIZE_RANGE, code) };
  }
  if (typeof value === 'object' && value !== null) {
    const { width, height } = value as Record<string, unknown>;
    return { width: intInRange(width, 'resize.width', SIZE_RANGE, code), height: intInRange(height, 'resize.height', SIZE_RANGE, code) };
  }
  throw new ProtocolError(code, `resize must be false, {"width":W,"height":H} or [W,H] (got ${describe(value)})`);
}
