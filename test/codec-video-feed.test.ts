// Unit tests of seeds/004's binary video codec (src/protocols/video-feed.ts): the connection
// query and the JSON commands a client may send. Frames go out as the image bytes themselves.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import { parseVideoFeedCommand, parseVideoFeedQuery, type VideoFeedOptions } from '../src/protocols/video-feed.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts } from './codec-cases.js';

const DEFAULTS: VideoFeedOptions = { fps: 30, quality: 80, format: 'jpeg', osd: false, resize: { width: 640, height: 360 } };
const query = (text: string) => parseVideoFeedQuery(new URLSearchParams(text), DEFAULTS);

describe('video-feed: the connection query', () => {
  it('takes the defaults, the server\'s resize included, for absent options', () => {
    assert.deepEqual(query(''), DEFAULTS);
    assert.ok(!('stream' in query('')), 'no stream key when none is asked for');
  });

  it('reads stream, fps, quality, format and osd', () => {
    assert.deepEqual(query('stream=cam%201&fps=15&quality=60&format=png&osd=1'), { stream: 'cam 1', fps: 15, quality: 60, format: 'png', osd: true, resize: DEFAULTS.resize });
    assert.equal(query('osd=false').osd, false);
    assert.equal(query('osd=true').osd, true);
  });

  it('refuses bad, empty and repeated values with invalid_query', () => {
    for (const text of ['stream=', 'fps=0', 'fps=120', 'quality=1', 'format=gif', 'osd=yes', 'osd=', 'stream=a&stream=b', 'osd=1&osd=0']) {
      assertRefuses(() => query(text), ProtocolError, ErrorCode.InvalidQuery);
    }
    assertRefuses(() => query('stream='), ProtocolError, ErrorCode.InvalidQuery, /stream must not be empty/);
  });
});

describe('video-feed: client commands', () => {
  it('parses set_quality', () => {
    assert.deepEqual(parseVideoFeedCommand('{"type":"command","action":"set_quality","value":55}'), { type: 'set_quality', quality: 55 });
    assert.deepEqual(parseVideoFeedCommand('{"type":"command","action":"set_quality","value":"100"}'), { type: 'set_quality', quality: 100 });
  });

  it('parses config with every key, and an empty config', () => {
    assert.deepEqual(
      parseVideoFeedCommand('{"type":"config","quality":70,"fps":12,"format":"webp","osd":true,"resize":{"width":320,"height":240}}'),
      { type: 'config', changes: { quality: 70, fps: 12, format: 'webp', osd: true, resize: { width: 320, height: 240 } } },
    );
    assert.deepEqual(parseVideoFeedCommand('{"type":"config"}'), { type: 'config', changes: {} });
  });

  it('reads resize as false, null, [w, h] or {width, height}', () => {
    assert.deepEqual(parseVideoFeedCommand('{"type":"config","resize":false}'), { type: 'config', changes: { resize: null } });
    assert.deepEqual(parseVideoFeedCommand('{"type":"config","resize":null}'), { type: 'config', changes: { resize: null } });
    assert.deepEqual(parseVideoFeedCommand('{"type":"config","resize":[1920,1080]}'), { type: 'config', changes: { resize: { width: 1920, height: 1080 } } });
    assert.deepEqual(parseVideoFeedCommand('{"type":"config","resize":[16,7680]}'), { type: 'config', changes: { resize: { width: 16, height: 7680 } } });
  });

  it('refuses what the protocol does not allow, each with its code', () => {
    assertRefuses(() => parseVideoFeedCommand('{"type":"command","action":"set_quality","value":5}'), ProtocolError, ErrorCode.InvalidOptions, /value must be an integer from 10 to 100/);
    assertRefuses(() => parseVideoFeedCommand('{"type":"command","action":"set_quality"}'), ProtocolError, ErrorCode.InvalidOptions);
    assertRefuses(() => parseVideoFeedCommand('{"type":"command","action":"reboot"}'), ProtocolError, ErrorCode.UnknownCommand, /unknown action "reboot" \(known: set_quality, seek, speed, pause, play\)/);
    assertRefuses(() => parseVideoFeedCommand('{"type":"config","brightness":3}'), ProtocolError, ErrorCode.InvalidOptions, /unknown config key "brightness"/);
    assertRefuses(() => parseVideoFeedCommand('{"type":"config","osd":1}'), ProtocolError, ErrorCode.InvalidOptions, /osd must be true or false/);
    for (const resize of ['true', '[15,100]', '[100,7681]', '[100]', '[1,2,3]', '{"width":100}', '"640x360"', '0']) {
      assertRefuses(() => parseVideoFeedCommand(`{"type":"config","resize":${resize}}`), ProtocolError, ErrorCode.InvalidOptions);
    }
    assertRefuses(() => parseVideoFeedCommand('{"action":"set_quality","value":50}'), ProtocolError, ErrorCode.InvalidMessage, /needs a "type" field/);
    assertRefuses(() => parseVideoFeedCommand('{"type":"subscribe"}'), ProtocolError, ErrorCode.UnknownCommand, /known: command, config/);
    assertRefuses(() => parseVideoFeedCommand('{"type":'), ProtocolError, ErrorCode.InvalidJson);
  });

  it('throws nothing but ProtocolError with a defined code on hostile text', () => {
    const texts = hostileTexts(0x0004, 3000, [
      { type: 'command', action: 'set_quality', value: 50 },
      { type: 'config', quality: 50, fps: 10, format: 'png', osd: true, resize: [320, 240] },
    ]);
    const refused = assertOnlyDefinedErrors(texts, parseVideoFeedCommand, ProtocolError, ['invalid_json', 'invalid_message', 'unknown_command', 'invalid_options']);
    assert.ok(refused > 100 && refused < texts.length, `refused ${refused} of ${texts.length}`);
  });
});
