// Unit tests of the one validator of playback commands (src/protocols/playback-command.ts) and
// of the two socket codecs that carry them: /ws/video_feed's actions and Socket.IO's playback:set.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import { parsePlaybackChange } from '../src/protocols/playback-command.js';
import { parseVideoFeedCommand } from '../src/protocols/video-feed.js';
import { parseSessionEvent } from '../src/protocols/socket-io-session.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts } from './codec-cases.js';

describe('playback commands', () => {
  it('reads seek, speed and paused, alone or together; only what was given', () => {
    assert.deepEqual(parsePlaybackChange({ seek: 12.5 }), { seek: 12.5 });
    assert.deepEqual(parsePlaybackChange({ seek: 0, speed: 0.25, paused: false }), { seek: 0, speed: 0.25, paused: false });
    assert.deepEqual(parsePlaybackChange({ speed: 8 }), { speed: 8 });
    assert.deepEqual(parsePlaybackChange({ paused: true }), { paused: true });
  });

  it('refuses strings, NaN, negatives, huge values, speeds out of 0.25-8, non-booleans, unknown and missing fields: never clamped', () => {
    const bad: unknown[] = [
      { seek: -1 }, { seek: '3' }, { seek: Number.NaN }, { seek: Infinity }, { seek: 1e308 }, { seek: null },
      { speed: 0.2 }, { speed: 8.01 }, { speed: 0 }, { speed: '2' }, { speed: Number.NaN },
      { paused: 1 }, { paused: 'true' }, {}, { rewind: true }, { seek: 1, extra: 1 }, null, [], 'seek', 5,
    ];
    for (const value of bad) assertRefuses(() => parsePlaybackChange(value), ProtocolError, ErrorCode.InvalidOptions);
    assertRefuses(() => parsePlaybackChange({ speed: 9 }, ErrorCode.InvalidBody), ProtocolError, ErrorCode.InvalidBody, /speed must be a number from 0\.25 to 8/);
  });

  it('/ws/video_feed: seek and speed take a value, pause and play none', () => {
    assert.deepEqual(parseVideoFeedCommand('{"type":"command","action":"seek","value":3.25}'), { type: 'playback', change: { seek: 3.25 } });
    assert.deepEqual(parseVideoFeedCommand('{"type":"command","action":"speed","value":2}'), { type: 'playback', change: { speed: 2 } });
    assert.deepEqual(parseVideoFeedCommand('{"type":"command","action":"pause"}'), { type: 'playback', change: { paused: true } });
    assert.deepEqual(parseVideoFeedCommand('{"type":"command","action":"play"}'), { type: 'playback', change: { paused: false } });
    for (const text of ['{"type":"command","action":"seek","value":"3"}', '{"type":"command","action":"seek"}', '{"type":"command","action":"speed","value":16}']) {
      assertRefuses(() => parseVideoFeedCommand(text), ProtocolError, ErrorCode.InvalidOptions);
    }
    assertRefuses(() => parseVideoFeedCommand('{"type":"command","action":"rewind"}'), ProtocolError, ErrorCode.UnknownCommand, /seek, speed, pause, play/);
  });

  it('Socket.IO: playback:set carries the same object', () => {
    assert.deepEqual(parseSessionEvent('playback:set', [{ seek: 1, paused: true }]), { type: 'playback', change: { seek: 1, paused: true } });
    assert.deepEqual(parseSessionEvent('playback:set', [{ speed: 0.5 }, () => {}]), { type: 'playback', change: { speed: 0.5 } });
    assertRefuses(() => parseSessionEvent('playback:set', []), ProtocolError, ErrorCode.InvalidOptions);
  });

  it('throws nothing but its defined errors for hostile text, on /ws/video_feed and as a payload', () => {
    const texts = hostileTexts(0x0019, 2000, [
      { type: 'command', action: 'seek', value: 1 }, { type: 'command', action: 'speed', value: 2 }, { type: 'command', action: 'pause' },
      { seek: 1, speed: 1, paused: true },
    ]);
    const codes = [ErrorCode.InvalidJson, ErrorCode.InvalidMessage, ErrorCode.UnknownCommand, ErrorCode.InvalidOptions];
    assert.ok(assertOnlyDefinedErrors(texts, parseVideoFeedCommand, ProtocolError, codes) > 0);
    const payload = (text: string): unknown => {
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    };
    assert.ok(assertOnlyDefinedErrors(texts, (text) => parsePlaybackChange(payload(text)), ProtocolError, [ErrorCode.InvalidOptions]) > 0);
  });
});
