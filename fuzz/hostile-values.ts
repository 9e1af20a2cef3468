import type { Prng } from './prng.js';

/**
 * Hostile JSON, built as text: nesting 10,000 deep cannot go through `JSON.stringify` (it
 * would overflow the fuzzer's own stack), and invalid JSON cannot be built from values at all.
 * Every fragment is one JSON value (or, for `invalidJson`, something that is not one).
 */

/** Strings no enum, id or option accepts: non-ASCII, control characters, lone surrogates, long. */
export function weirdString(r: Prng): string {
  return r.pick<() => string>([
    () => 'é'.repeat(r.range(1, 80)),
    () => '\u0000\u0001\u0002\u001f\u007f',
    () => '\ud800', // a lone surrogate: invalid UTF-8 once encoded (ws writes U+FFFD)
    () => '\udfff\ud800x',
    () => '\u202e\u200b\ufeffrtl',
    () => '😀'.repeat(r.range(1, 40)),
    () => `${'ü'.repeat(60)}`,
    () => 'x'.repeat(r.range(100, 4000)),
    () => '\r\n\r\nHTTP/1.1 200 OK\r\n',
    () => '../../../../etc/passwd',
    () => '%00%ff%c0%af',
    () => '__proto__',
    () => 'constructor',
    () => ' ',
  ])();
}

/** A JSON string literal of `weirdString`. */
export function weirdStringJson(r: Prng): string {
  return JSON.stringify(weirdString(r));
}

/** JSON nested `depth` deep: arrays, objects or a mix, with a payload at the bottom. */
export function deepJson(r: Prng, depth: number): string {
  const kind = r.int(3);
  if (kind === 0) return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  if (kind === 1) return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  return `${'[{"a":'.repeat(depth >> 1)}null${'}]'.repeat(depth >> 1)}`;
}

/** A deep value of 5,000-10,000 levels, small enough (< 64 KiB) for every route's limit. */
export function deepValue(r: Prng): string {
  return deepJson(r, r.range(5000, 10000) >> (r.chance(0.5) ? 1 : 0));
}

/** Values that are never a valid integer in [min, max] (nor a numeric string of one). */
export function badInt(r: Prng, min: number, max: number): string {
  return r.pick<() => string>([
    () => String(min - 1),
    () => String(max + 1),
    () => String(r.range(max + 1, 1_000_000)),
    () => '-1',
    () => '1e308',
    () => '-1e308',
    () => (min > 0 ? '-0' : '-0.5'),
    () => `${min}.5`,
    () => '"NaN"',
    () => '"Infinity"',
    () => '"-Infinity"',
    () => '"1e3"',
    () => '"0x10"',
    () => '"١٠"',
    () => 'true',
    () => 'null',
    () => '[]',
    () => '{}',
    () => `[${min}]`,
    () => '"high"',
    () => '123456789012345678901234567890123456789',
    () => '9007199254740993',
    () => '{"__proto__":{"polluted":true}}',
    () => weirdStringJson(r),
    () => deepValue(r),
  ])();
}

/** A JSON value of any type, hostile or not. */
export function anyValue(r: Prng): string {
  return r.pick<() => string>([
    () => badInt(r, 1, 60),
    () => weirdStringJson(r),
    () => '"ok"',
    () => String(r.range(-5, 200)),
    () => 'false',
    () => 'null',
    () => '{"constructor":{"prototype":{"polluted":true}}}',
    () => deepValue(r),
  ])();
}

/** Text that is not JSON at all. */
export function invalidJson(r: Prng): string {
  return r.pick<() => string>([
    () => '{',
    () => '{"command":',
    () => "{'single':'quotes'}",
    () => '{"a":1,}',
    () => '[1,2',
    () => 'NaN',
    () => 'undefined',
    () => '{"a":01}',
    () => '{"a":"\\x41"}',
    () => '{"a":"\u0001"}', // a raw control character inside a string
    () => '\u0000',
    () => ' ',
    () => '',
    () => `${'['.repeat(r.range(5000, 10000))}`, // deep and unterminated
    () => `{"a":${'1'.repeat(r.range(400, 4000))}`,
    () => 'é{"é":}',
    () => '{"a":1}{"b":2}',
  ])();
}

/** A JSON value that is not an object. */
export function notAnObject(r: Prng): string {
  return r.pick<() => string>([
    () => '[]',
    () => '[{"command":"take_screenshot"}]',
    () => '1e308',
    () => '-0',
    () => '"string"',
    () => 'null',
    () => 'true',
    () => `[${deepJson(r, r.range(5000, 10000))}]`, // an array holding a deep value
    () => weirdStringJson(r),
  ])();
}

/** Prototype-key objects, spelled several ways (`__proto__` as a JSON key is an own property after `JSON.parse`). */
export function protoKeys(r: Prng, inner = '{"polluted":true}'): string {
  return r.pick([
    `{"__proto__":${inner}}`,
    `{"constructor":{"prototype":${inner}}}`,
    `{"__proto__":${inner},"constructor":${inner},"prototype":${inner}}`,
    `{"hasOwnProperty":1,"toString":"x","valueOf":${inner}}`,
  ]);
}

/**
 * JSON deeper than this is refused as `invalid_json` before it is parsed (framehub's
 * MAX_JSON_DEPTH), whatever it holds: the fuzzer's expectations follow.
 */
export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of arrays and objects in `text`, strings skipped. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Values that are never a progress (a number from 0 to 100, fractions allowed). */
export function badProgress(r: Prng): string {
  return r.pick(['-1', '101', '1e308', '"50"', 'null', 'true', '[]', '-1e-9', '{}', weirdStringJson(r)]);
}
