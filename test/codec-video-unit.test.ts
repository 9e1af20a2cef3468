// Unit tests of the H.264 route's codec: the binary unit message (src/protocols/video-unit.ts
// writes it, src/wire/video-unit.ts reads it), the query and the one command.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, FramehubError } from '../src/wire/errors.js';
import { parseVideoUnit, VIDEO_UNIT_FIXED_HEADER } from '../src/wire/video-unit.js';
import { encodeVideoUnit, parseVideoCommand, parseVideoQuery, videoUnitMessage } from '../src/protocols/video-unit.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import { AccessUnit } from '../src/hub/access-unit.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts, prng } from './codec-cases.js';

const keyframe = new AccessUnit(Buffer.from([0, 0, 0, 2, 0x65, 0x88]), true, 1_700_000_000_123.25, 42, 1280, 720, 'avc1.42C01F', Buffer.from([1, 0x42, 0xc0, 0x1f]));
const delta = new AccessUnit(Buffer.from([0, 0, 0, 1, 0x41]), false, 5, 43, 640, 360, 'avc1.42C01E', undefined);

describe('video unit message', () => {
  it('round-trips a keyframe with its config and a delta without', () => {
    const key = parseVideoUnit(encodeVideoUnit(keyframe));
    assert.deepEqual({ ...key, config: Buffer.from(key.config!), data: Buffer.from(key.data) }, {
      keyframe: true, capturedAt: 1_700_000_000_123.25, seq: 42, width: 1280, height: 720, codec: 'avc1.42C01F',
      config: keyframe.config, data: keyframe.data,
    });
    const parsed = parseVideoUnit(encodeVideoUnit(delta));
    assert.equal(parsed.keyframe, false);
    assert.equal(parsed.config, undefined);
    assert.deepEqual(Buffer.from(parsed.data), delta.data);
  });

  it('lays the header out as documented', () => {
    const bytes = encodeVideoUnit(delta);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x56, 1, 0, 11]);
    assert.equal(bytes.readDoubleBE(4), 5);
    assert.equal(bytes.readUInt32BE(12), 43);
    assert.equal(bytes.toString('latin1', VIDEO_UNIT_FIXED_HEADER, VIDEO_UNIT_FIXED_HEADER + 11), 'avc1.42C01E');
    assert.equal(bytes.length, VIDEO_UNIT_FIXED_HEADER + 11 + delta.data.length);
  });

  it('is built once per unit, whatever the viewers', () => {
    assert.equal(videoUnitMessage(keyframe), videoUnitMessage(keyframe));
  });

  it('refuses what is not a unit with invalid_message, and nothing else escapes', () => {
    assertRefuses(() => parseVideoUnit(new Uint8Array(3)), FramehubError, ErrorCode.InvalidMessage);
    const wrongVersion = encodeVideoUnit(delta);
    wrongVersion[1] = 2;
    assertRefuses(() => parseVideoUnit(wrongVersion), FramehubError, ErrorCode.InvalidMessage, /version/);
    const good = encodeVideoUnit(keyframe);
    const random = prng(16);
    const inputs: Uint8Array[] = [];
    for (let n = 0; n < 2000; n++) {
      const mutated = Buffer.from(good.subarray(0, Math.floor(random() * (good.length + 1))));
      for (let k = 0; k < 3; k++) if (mutated.length > 0) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
      inputs.push(mutated);
    }
    const refused = assertOnlyDefinedErrors(inputs, parseVideoUnit, FramehubError, [ErrorCode.InvalidMessage]);
    assert.ok(refused > 100, `${refused} of the mutated messages refused`);
  });
});

describe('video route: query and command', () => {
  it('reads ?tier= with auto by default', () => {
    assert.deepEqual(parseVideoQuery(new URLSearchParams('')), { tier: 'auto' });
    assert.deepEqual(parseVideoQuery(new URLSearchParams('tier=auto')), { tier: 'auto' });
    assert.deepEqual(parseVideoQuery(new URLSearchParams('tier=360p')), { tier: '360p' });
    for (const text of ['tier=1080p', 'tier=', 'tier=480p&tier=360p']) {
      assertRefuses(() => parseVideoQuery(new URLSearchParams(text)), ProtocolError, ErrorCode.InvalidQuery);
    }
  });

  it('parses set_tier and refuses anything else with a defined code', () => {
    assert.deepEqual(parseVideoCommand('{"type":"set_tier","tier":"480p"}'), { type: 'set_tier', tier: '480p' });
    assert.deepEqual(parseVideoCommand('{"type":"set_tier","tier":"auto"}'), { type: 'set_tier', tier: 'auto' });
    assertRefuses(() => parseVideoCommand('{"type":"set_tier","tier":"4k"}'), ProtocolError, ErrorCode.InvalidOptions);
    assertRefuses(() => parseVideoCommand('{"type":"play"}'), ProtocolError, ErrorCode.UnknownCommand);
    const texts = hostileTexts(16, 500, [{ type: 'set_tier', tier: '480p' }]);
    assertOnlyDefinedErrors(texts, parseVideoCommand, ProtocolError,
      [ErrorCode.InvalidJson, ErrorCode.InvalidMessage, ErrorCode.InvalidOptions, ErrorCode.UnknownCommand]);
  });
});
