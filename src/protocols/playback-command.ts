import { ErrorCode } from '../wire/errors.js';
import { SPEED_RANGE, type PlaybackChange } from '../wire/playback.js';
import { ProtocolError } from './protocol-error.js';
import { describe } from './values.js';

/**
 * The one validator of playback commands (`seek`, `speed`, `pause`/`play`), whichever route
 * brings them: the REST body, Socket.IO's `playback:set`, `/ws/video_feed`'s actions. Values
 * are JSON numbers and booleans only, never strings ("2" is refused, not read as 2), and out of
 * range is an error, never clamped. Whether a seek is past the end only the playback knows.
 */

/** Longest recording a seek may name, seconds (a year): a bound, so 1e308 is refused here. */
const MAX_SEEK = 365 * 24 * 3600;
const KEYS = ['seek', 'speed', 'paused'];

type Code = typeof ErrorCode.InvalidOptions | typeof ErrorCode.InvalidBody;

export function seekValue(raw: unknown, name = 'seek', code: Code = ErrorCode.InvalidOptions): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0 || raw > MAX_SEEK) {
    throw new ProtocolError(code, `${name} must be a number of seconds from 0 (the recording's start) (got ${describe(raw)})`);
  }
  return raw;
}

export function speedValue(raw: unknown, name = 'speed', code: Code = ErrorCode.InvalidOptions): number {
  const [min, max] = SPEED_RANGE;
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < min || raw > max) {
    throw new ProtocolError(code, `${name} must be a number from ${min} to ${max} (got ${describe(raw)})`);
  }
  return raw;
}

/** `{seek?, speed?, paused?}`: at least one of them, nothing else. */
export function parsePlaybackChange(raw: unknown, code: Code = ErrorCode.InvalidOptions): PlaybackChange {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProtocolError(code, `a playback command is an object {seek?, speed?, paused?} (got ${describe(raw)})`);
  }
  const fields = raw as Record<string, unknown>;
  const change: PlaybackChange = {};
  for (const key of Object.keys(fields)) {
    if (!KEYS.includes(key)) throw new ProtocolError(code, `unknown playback field ${describe(key)} (known: ${KEYS.join(', ')})`);
  }
  if (fields['seek'] !== undefined) change.seek = seekValue(fields['seek'], 'seek', code);
  if (fields['speed'] !== undefined) change.speed = speedValue(fields['speed'], 'speed', code);
  if (fields['paused'] !== undefined) {
    if (typeof fields['paused'] !== 'boolean') throw new ProtocolError(code, `paused must be true or false (got ${describe(fields['paused'])})`);
    change.paused = fields['paused'];
  }
  if (Object.keys(change).length === 0) throw new ProtocolError(code, 'a playback command needs seek, speed or paused');
  return change;
}
