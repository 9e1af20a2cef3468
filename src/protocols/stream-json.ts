import type { Variant } from '../hub/variant.js';
import { ErrorCode } from '../wire/errors.js';
import type { StreamJsonCommand, StreamJsonError, StreamJsonFrame, StreamJsonOptions, StreamJsonStats } from '../wire/stream-json.js';
import { parsePlaybackChange } from './playback-command.js';
import { ProtocolError } from './protocol-error.js';
import { FPS_RANGE, QUALITY_RANGE, describe, imageFormat, intInRange, parseJsonObject } from './values.js';

/**
 * The JSON stream protocol of seeds/002 (`WS /stream/:id`): pure functions from client text
 * to typed commands and from frames to wire text. Knows nothing about sockets.
 */

export const STREAM_JSON_DEFAULTS: StreamJsonOptions = { fps: 10, quality: 80, format: 'jpeg' };

/** Options from the connection URL's query; absent ones take `defaults`, bad ones throw. */
export function parseStreamJsonQuery(query: URLSearchParams, defaults: StreamJsonOptions = STREAM_JSON_DEFAULTS): StreamJsonOptions {
  const code = ErrorCode.InvalidQuery;
  const get = (name: string) => {
    const all = query.getAll(name);
    if (all.length > 1) throw new ProtocolError(code, `${name} is given ${all.length} times`);
    return all[0];
  };
  const fps = get('fps');
  const quality = get('quality');
  const format = get('format');
  return {
    fps: fps === undefined ? defaults.fps : intInRange(fps, 'fps', FPS_RANGE, code),
    quality: quality === undefined ? defaults.quality : intInRange(quality, 'quality', QUALITY_RANGE, code),
    format: format === undefined ? defaults.format : imageFormat(format, 'format', code),
  };
}

/** Parses one client text message. Throws `ProtocolError` with a code for anything else. */
export function parseStreamJsonCommand(text: string): StreamJsonCommand {
  const message = parseJsonObject(text);
  const command = message['command'];
  if (command === 'take_screenshot') return { command };
  if (command === 'update_options') {
    const raw = message['options'];
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ProtocolError(ErrorCode.InvalidOptions, 'update_options needs an "options" object');
    }
    const code = ErrorCode.InvalidOptions;
    const options: Partial<StreamJsonOptions> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (key === 'fps') options.fps = intInRange(value, 'fps', FPS_RANGE, code);
      else if (key === 'quality') options.quality = intInRange(value, 'quality', QUALITY_RANGE, code);
      else if (key === 'format') options.format = imageFormat(value, 'format', code);
      else throw new ProtocolError(code, `unknown option ${describe(key)} (known: fps, quality, format)`);
    }
    return { command, options };
  }
  if (command === 'playback') return { command, playback: parsePlaybackChange(message['playback']) };
  if (command === undefined) throw new ProtocolError(ErrorCode.InvalidMessage, 'message needs a "command" field');
  throw new ProtocolError(ErrorCode.UnknownCommand, `unknown command ${describe(command)} (known: update_options, take_screenshot, playback)`);
}

/**
 * The `frame` (or `screenshot`) message for a variant, as UTF-8 bytes ready to send as a text
 * frame. Built once per variant and shared by every client that receives it.
 */
export function frameMessage(variant: Variant, type: 'frame' | 'screenshot' = 'frame'): Buffer {
  return variant.memo(`stream-json:${type}`, (v) =>
    Buffer.from(JSON.stringify({
      type,
      data: {
        data_url: v.dataUrl(),
        format: v.format,
        width: v.width,
        height: v.height,
        timestamp: v.frame.capturedAt,
        frame_number: v.frame.seq,
        size: v.bytes.length,
      } satisfies StreamJsonFrame,
    })),
  );
}

export function statsMessage(stats: StreamJsonStats): string {
  return JSON.stringify({ type: 'stats', data: stats });
}

export function errorMessage(code: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { message, code } satisfies StreamJsonError });
}

/** `detail` (a playback's state, …) goes beside `message`; it never overrides it. */
export function statusMessage(message: string, detail?: Readonly<Record<string, unknown>>): string {
  return JSON.stringify({ type: 'status', data: { ...detail, message } });
}
