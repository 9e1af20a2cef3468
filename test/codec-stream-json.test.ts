// Unit tests of seeds/002's JSON stream codec (src/protocols/stream-json.ts): client text and
// query in, typed commands out; frames and notices in, wire text out. No sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import {
  STREAM_JSON_DEFAULTS, errorMessage, frameMessage, parseStreamJsonCommand, parseStreamJsonQuery, statsMessage, statusMessage,
} from '../src/protocols/stream-json.js';
import type { StreamJsonStats } from '../src/wire/stream-json.js';
import { Variant } from '../src/hub/variant.js';
import type { Frame } from '../src/sources/frame.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts } from './codec-cases.js';

const query = (text: string) => new URLSearchParams(text);

describe('stream-json: the connection query', () => {
  it('takes the defaults for absent options', () => {
    assert.deepEqual(parseStreamJsonQuery(query('')), STREAM_JSON_DEFAULTS);
    assert.deepEqual(STREAM_JSON_DEFAULTS, { fps: 10, quality: 80, format: 'jpeg' });
    const defaults = { fps: 5, quality: 50, format: 'png' as const };
    assert.deepEqual(parseStreamJsonQuery(query('other=1'), defaults), defaults);
  });

  it('reads fps, quality and format', () => {
    assert.deepEqual(parseStreamJsonQuery(query('fps=30&quality=95&format=webp')), { fps: 30, quality: 95, format: 'webp' });
    assert.deepEqual(parseStreamJsonQuery(query('format=JPG')), { ...STREAM_JSON_DEFAULTS, format: 'jpeg' });
  });

  it('refuses bad and repeated options with invalid_query', () => {
    for (const text of ['fps=0', 'fps=61', 'fps=ten', 'fps=', 'quality=9', 'quality=101', 'format=gif', 'format=', 'fps=10&fps=20']) {
      assertRefuses(() => parseStreamJsonQuery(query(text)), ProtocolError, 'invalid_query');
    }
    assertRefuses(() => parseStreamJsonQuery(query('quality=5&quality=6')), ProtocolError, 'invalid_query', /quality is given 2 times/);
  });
});

describe('stream-json: client commands', () => {
  it('parses take_screenshot and update_options', () => {
    assert.deepEqual(parseStreamJsonCommand('{"command":"take_screenshot"}'), { command: 'take_screenshot' });
    assert.deepEqual(parseStreamJsonCommand('{"command":"update_options","options":{}}'), { command: 'update_options', options: {} });
    assert.deepEqual(
      parseStreamJsonCommand('{"command":"update_options","options":{"fps":24,"quality":"70","format":"PNG"}}'),
      { command: 'update_options', options: { fps: 24, quality: 70, format: 'png' } },
    );
    // Fields beside the command are the seed's own (a client may send more); they are ignored.
    assert.deepEqual(parseStreamJsonCommand('{"command":"take_screenshot","id":7}'), { command: 'take_screenshot' });
  });

  it('names what is wrong with a defined code', () => {
    assertRefuses(() => parseStreamJsonCommand('not json'), ProtocolError, ErrorCode.InvalidJson);
    assertRefuses(() => parseStreamJsonCommand('[]'), ProtocolError, ErrorCode.InvalidMessage);
    assertRefuses(() => parseStreamJsonCommand('{}'), ProtocolError, ErrorCode.InvalidMessage, /needs a "command" field/);
    assertRefuses(() => parseStreamJsonCommand('{"command":"reboot"}'), ProtocolError, ErrorCode.UnknownCommand, /unknown command "reboot" \(known: update_options, take_screenshot, playback\)/);
    assertRefuses(() => parseStreamJsonCommand('{"command":42}'), ProtocolError, ErrorCode.UnknownCommand);
    for (const options of ['null', '[]', '"fps=30"', '30']) {
      assertRefuses(() => parseStreamJsonCommand(`{"command":"update_options","options":${options}}`), ProtocolError, ErrorCode.InvalidOptions, /needs an "options" object/);
    }
    assertRefuses(() => parseStreamJsonCommand('{"command":"update_options"}'), ProtocolError, ErrorCode.InvalidOptions);
    assertRefuses(() => parseStreamJsonCommand('{"command":"update_options","options":{"fps":500}}'), ProtocolError, ErrorCode.InvalidOptions, /fps must be an integer from 1 to 60/);
    assertRefuses(() => parseStreamJsonCommand('{"command":"update_options","options":{"quality":0}}'), ProtocolError, ErrorCode.InvalidOptions);
    assertRefuses(() => parseStreamJsonCommand('{"command":"update_options","options":{"format":"bmp"}}'), ProtocolError, ErrorCode.InvalidOptions);
    assertRefuses(() => parseStreamJsonCommand('{"command":"update_options","options":{"speed":2}}'), ProtocolError, ErrorCode.InvalidOptions, /unknown option "speed"/);
    assertRefuses(() => parseStreamJsonCommand('{"command":"update_options","options":{"__proto__":{"fps":1}}}'), ProtocolError, ErrorCode.InvalidOptions, /unknown option "__proto__"/);
  });

  it('throws nothing but ProtocolError with a defined code on hostile text', () => {
    const texts = hostileTexts(0x0002, 3000, [
      { command: 'update_options', options: { fps: 30, quality: 80, format: 'jpeg' } },
      { command: 'take_screenshot' },
    ]);
    const refused = assertOnlyDefinedErrors(texts, parseStreamJsonCommand, ProtocolError, ['invalid_json', 'invalid_message', 'unknown_command', 'invalid_options']);
    assert.ok(refused > 100 && refused < texts.length, `refused ${refused} of ${texts.length}`);
  });
});

describe('stream-json: wire messages', () => {
  const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 250]);
  const frame: Frame = { bytes, format: 'jpeg', width: 640, height: 360, seq: 42, capturedAt: 1_700_000_000_123.5 };

  it('frame: the seed\'s fields, with the image as a data URL that decodes to the variant\'s bytes', () => {
    const variant = new Variant(frame, bytes, 'jpeg', 640, 360, true);
    const message = JSON.parse(frameMessage(variant).toString('utf8'));
    assert.deepEqual(Object.keys(message), ['type', 'data']);
    assert.equal(message.type, 'frame');
    const { data_url: dataUrl, ...rest } = message.data;
    assert.deepEqual(rest, { format: 'jpeg', width: 640, height: 360, timestamp: 1_700_000_000_123.5, frame_number: 42, size: bytes.length });
    const match = /^data:image\/jpeg;base64,(.+)$/.exec(dataUrl);
    assert.ok(match, dataUrl);
    assert.deepEqual(Buffer.from(match[1]!, 'base64'), bytes);
  });

  it('frame: a variant in another format says so, and its own size', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9, 9]);
    const variant = new Variant(frame, png, 'png', 320, 180, false);
    const { data } = JSON.parse(frameMessage(variant).toString());
    assert.equal(data.format, 'png');
    assert.equal(data.width, 320);
    assert.equal(data.size, png.length);
    assert.ok(data.data_url.startsWith('data:image/png;base64,'));
    assert.deepEqual(Buffer.from(data.data_url.split(',')[1], 'base64'), png);
  });

  it('frame and screenshot are built once per variant and differ only in type', () => {
    const variant = new Variant(frame, bytes, 'jpeg', 640, 360, true);
    assert.equal(frameMessage(variant), frameMessage(variant), 'the same Buffer for every client');
    const screenshot = frameMessage(variant, 'screenshot');
    assert.notEqual(screenshot, frameMessage(variant));
    const parsed = JSON.parse(screenshot.toString());
    assert.equal(parsed.type, 'screenshot');
    assert.deepEqual(parsed.data, JSON.parse(frameMessage(variant).toString()).data);
  });

  it('stats, error and status round-trip through JSON', () => {
    const stats: StreamJsonStats = {
      stream: 'demo "one"', fps: 10, quality: 80, format: 'jpeg', actual_fps: 9.8, source_fps: 30, frames_sent: 100,
      frames_dropped: 2, frames_skipped: 1, bytes_sent: 123_456, connected_for: 12.5, subscribers: 3,
    };
    assert.deepEqual(JSON.parse(statsMessage(stats)), { type: 'stats', data: stats });
    assert.deepEqual(JSON.parse(errorMessage('invalid_options', 'fps must be "1" to 60\n')), { type: 'error', error: { message: 'fps must be "1" to 60\n', code: 'invalid_options' } });
    assert.deepEqual(JSON.parse(statusMessage('browser page is back')), { type: 'status', data: { message: 'browser page is back' } });
  });
});
