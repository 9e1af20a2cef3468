// Unit tests of the validators every codec shares (src/protocols/values.ts), the protocol error
// (errors.ts) and the `?since=` query (replay-query.ts): pure functions, no sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import { parseSinceQuery } from '../src/protocols/replay-query.js';
import { FPS_RANGE, MAX_JSON_DEPTH, QUALITY_RANGE, bool, describe as describeValue, imageFormat, intInRange, jsonDepthExceeds, parseJsonObject } from '../src/protocols/values.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts, prng, randomJson } from './codec-cases.js';

const CODES = Object.values(ErrorCode);

describe('ProtocolError', () => {
  it('is an Error that carries its wire code and cause', () => {
    const cause = new Error('inner');
    const error = new ProtocolError(ErrorCode.InvalidQuery, 'fps is wrong', { cause });
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ProtocolError');
    assert.equal(error.code, 'invalid_query');
    assert.equal(error.message, 'fps is wrong');
    assert.equal(error.cause, cause);
  });

  it('has distinct, snake_case wire codes', () => {
    assert.equal(new Set(CODES).size, CODES.length);
    for (const code of CODES) assert.match(code, /^[a-z]+(_[a-z]+)*$/);
  });
});

describe('intInRange', () => {
  it('takes integers from JSON and from query strings, bounds included', () => {
    assert.equal(intInRange(1, 'fps', FPS_RANGE, ErrorCode.InvalidOptions), 1);
    assert.equal(intInRange(60, 'fps', FPS_RANGE, ErrorCode.InvalidOptions), 60);
    assert.equal(intInRange('30', 'fps', FPS_RANGE, ErrorCode.InvalidQuery), 30);
    assert.equal(intInRange(' 45 ', 'fps', FPS_RANGE, ErrorCode.InvalidQuery), 45);
    assert.equal(intInRange('80.0', 'quality', QUALITY_RANGE, ErrorCode.InvalidQuery), 80);
  });

  it('refuses out-of-range, fractional and non-numeric values with the caller\'s code, never clamping', () => {
    for (const raw of [0, 61, -5, 30.5, '30.5', '', 'abc', '1e1', '0x1e', NaN, Infinity, null, undefined, true, [30], { fps: 30 }]) {
      assertRefuses(() => intInRange(raw, 'fps', FPS_RANGE, ErrorCode.InvalidOptions), ProtocolError, 'invalid_options', /^fps must be an integer from 1 to 60 \(got /);
    }
    assertRefuses(() => intInRange('500', 'quality', QUALITY_RANGE, ErrorCode.InvalidQuery), ProtocolError, 'invalid_query', /from 10 to 100 \(got "500"\)/);
  });
});

describe('imageFormat', () => {
  it('takes jpeg, png and webp in any case, and jpg as jpeg', () => {
    assert.equal(imageFormat('jpeg', 'format', ErrorCode.InvalidQuery), 'jpeg');
    assert.equal(imageFormat('JPG', 'format', ErrorCode.InvalidQuery), 'jpeg');
    assert.equal(imageFormat('Png', 'format', ErrorCode.InvalidQuery), 'png');
    assert.equal(imageFormat('webp', 'format', ErrorCode.InvalidQuery), 'webp');
  });

  it('refuses formats it cannot encode and non-strings', () => {
    for (const raw of ['gif', 'bmp', '', ' jpeg', 42, null, ['jpeg'], { format: 'jpeg' }]) {
      assertRefuses(() => imageFormat(raw, 'format', ErrorCode.InvalidOptions), ProtocolError, 'invalid_options', /format must be one of jpeg, png, webp/);
    }
  });
});

describe('bool', () => {
  it('takes true/false from JSON and true/false/1/0 from query strings', () => {
    for (const raw of [true, 'true', '1']) assert.equal(bool(raw, 'osd', ErrorCode.InvalidQuery), true);
    for (const raw of [false, 'false', '0']) assert.equal(bool(raw, 'osd', ErrorCode.InvalidQuery), false);
  });

  it('refuses anything else, numbers included', () => {
    for (const raw of [1, 0, 'yes', 'TRUE', '', null, undefined, []]) {
      assertRefuses(() => bool(raw, 'osd', ErrorCode.InvalidOptions), ProtocolError, 'invalid_options', /osd must be true or false/);
    }
  });
});

describe('parseJsonObject', () => {
  it('parses a JSON object', () => {
    assert.deepEqual(parseJsonObject('{"command":"take_screenshot","n":[1,{"a":null}]}'), { command: 'take_screenshot', n: [1, { a: null }] });
  });

  it('refuses text that is not JSON with invalid_json, and JSON that is not an object with invalid_message', () => {
    for (const text of ['', '{', '{"a":}', "{'a':1}", 'undefined', '{"a":1}x']) assertRefuses(() => parseJsonObject(text), ProtocolError, 'invalid_json', /not valid JSON/);
    for (const text of ['null', '[]', '[{}]', '1', '"{}"', 'true']) assertRefuses(() => parseJsonObject(text), ProtocolError, 'invalid_message', /must be a JSON object/);
  });

  it(`accepts nesting up to ${MAX_JSON_DEPTH} levels and refuses deeper before parsing`, () => {
    const nested = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
    assert.doesNotThrow(() => parseJsonObject(nested(MAX_JSON_DEPTH)));
    assertRefuses(() => parseJsonObject(nested(MAX_JSON_DEPTH + 1)), ProtocolError, 'invalid_json', /nested deeper than 64/);
    assertRefuses(() => parseJsonObject('['.repeat(100_000)), ProtocolError, 'invalid_json', /nested deeper/);
  });

  it('keeps a "__proto__" key as data, not as the prototype', () => {
    const parsed = parseJsonObject('{"__proto__":{"polluted":true}}');
    assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('throws nothing but ProtocolError on hostile text', () => {
    const texts = hostileTexts(0x5eed, 2000, [{ type: 'x', payload: {} }, { command: 'y', options: {} }]);
    const refused = assertOnlyDefinedErrors(texts, parseJsonObject, ProtocolError, ['invalid_json', 'invalid_message']);
    assert.ok(refused > 100 && refused < texts.length, `refused ${refused} of ${texts.length}`);
  });
});

describe('jsonDepthExceeds', () => {
  it('counts arrays and objects, not brackets inside strings or after escaped quotes', () => {
    assert.equal(jsonDepthExceeds('[[[]]]', 3), false);
    assert.equal(jsonDepthExceeds('[[[[]]]]', 3), true);
    assert.equal(jsonDepthExceeds('{"a":{"b":[1]}}', 3), false);
    assert.equal(jsonDepthExceeds('{"a":{"b":[[1]]}}', 3), true);
    assert.equal(jsonDepthExceeds(`{"s":"${'['.repeat(50)}"}`, 2), false);
    assert.equal(jsonDepthExceeds(`{"s":"\\"${'['.repeat(50)}"}`, 2), false);
    assert.equal(jsonDepthExceeds('[[],[],[],[]]', 2), false);
  });
});

describe('describe (values in error messages)', () => {
  it('shows short values as JSON and cuts long ones at 40 characters', () => {
    assert.equal(describeValue('abc'), '"abc"');
    assert.equal(describeValue(42), '42');
    assert.equal(describeValue(null), 'null');
    assert.equal(describeValue(undefined), 'undefined');
    assert.equal(describeValue(10n), '10n');
    assert.equal(describeValue({ a: [1, 2] }), '{"a":[1,2]}');
    assert.equal(describeValue(Buffer.alloc(7)), '(7 bytes)');
    const long = describeValue('x'.repeat(10_000));
    assert.equal(long.length, 41);
    assert.ok(long.endsWith('…'));
  });

  it('never throws and stays short, whatever the value', () => {
    const throwingGetter = Object.defineProperty({}, 'boom', { enumerable: true, get() { throw new Error('getter'); } });
    const trap = new Proxy({}, { ownKeys() { throw new Error('trap'); } });
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const wide = Array.from({ length: 1_000_000 }, (_, i) => i);
    for (const value of [throwingGetter, trap, deep, wide, Symbol('s'), () => 1, Object.create(null)]) {
      const text = describeValue(value);
      assert.ok(text.length <= 41, text);
    }
    assert.equal(describeValue(trap), '(a value that cannot be shown)');
    const random = prng(7);
    for (let i = 0; i < 500; i++) assert.ok(describeValue(randomJson(random, 6)).length <= 41);
  });
});

describe('parseSinceQuery', () => {
  it('is undefined without since and the id with one', () => {
    assert.equal(parseSinceQuery(new URLSearchParams('')), undefined);
    assert.equal(parseSinceQuery(new URLSearchParams('other=1')), undefined);
    assert.equal(parseSinceQuery(new URLSearchParams('since=0')), 0);
    assert.equal(parseSinceQuery(new URLSearchParams('since=12345')), 12345);
    assert.equal(parseSinceQuery(new URLSearchParams('since=999999999999999')), 999_999_999_999_999);
  });

  it('refuses a repeated, negative, fractional, empty or too long since with invalid_query', () => {
    assertRefuses(() => parseSinceQuery(new URLSearchParams('since=1&since=2')), ProtocolError, 'invalid_query', /given 2 times/);
    for (const raw of ['-1', '1.5', '', ' 1', '1e3', 'abc', '0x10', '1000000000000000', 'ü'.repeat(60)]) {
      assertRefuses(() => parseSinceQuery(new URLSearchParams({ since: raw })), ProtocolError, 'invalid_query', /since must be the id of the last event received/);
    }
  });
});
