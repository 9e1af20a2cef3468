import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import type { ImageFormat } from '../image/sniff.js';

/**
 * Validators shared by the codecs. Out-of-range values are errors, never silently clamped:
 * a client asking for 500 fps should learn that it will not get it.
 */

export const FPS_RANGE = [1, 60] as const;
export const QUALITY_RANGE = [10, 100] as const;
export const FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp'];

type Code = typeof ErrorCode.InvalidOptions | typeof ErrorCode.InvalidQuery;

/** A number from JSON or a query string; query strings give strings, JSON gives numbers. */
export function intInRange(raw: unknown, name: string, [min, max]: readonly [number, number], code: Code): number {
  const n = typeof raw === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isFinite(n) || !Number.isInteger(n) || n < min || n > max) {
    throw new ProtocolError(code, `${name} must be an integer from ${min} to ${max} (got ${describe(raw)})`);
  }
  return n;
}

export function imageFormat(raw: unknown, name: string, code: Code): ImageFormat {
  const value = typeof raw === 'string' ? raw.toLowerCase() : raw;
  const format = value === 'jpg' ? 'jpeg' : value;
  if (typeof format !== 'string' || !FORMATS.includes(format as ImageFormat)) {
    throw new ProtocolError(code, `${name} must be one of ${FORMATS.join(', ')} (got ${describe(raw)})`);
  }
  return format as ImageFormat;
}

export function bool(raw: unknown, name: string, code: Code): boolean {
  if (raw === true || raw === 'true' || raw === '1') return true;
  if (raw === false || raw === 'false' || raw === '0') return false;
  throw new ProtocolError(code, `${name} must be true or false (got ${describe(raw)})`);
}

/** Parses a client's JSON text into a plain object, or throws the matching protocol error. */
export function parseJsonObject(text: string): Record<string, unknown> {
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new ProtocolError(ErrorCode.InvalidJson, `message is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(ErrorCode.InvalidJson, `message is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(ErrorCode.InvalidMessage, 'message must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Characters of a value shown in an error message. */
const DESCRIBE_MAX = 40;

/**
 * A short preview of a client's value for an error message. It walks at most a few levels and
 * a few dozen characters, so a value nested thousands deep, a huge array or a getter that
 * throws costs nothing and never throws (JSON.stringify would overflow the stack on the first).
 */
export function describe(raw: unknown): string {
  let text: string;
  try {
    text = preview(raw, 0);
  } catch {
    text = '(a value that cannot be shown)';
  }
  return text.length > DESCRIBE_MAX ? `${text.slice(0, DESCRIBE_MAX)}…` : text;
}

function preview(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > DESCRIBE_MAX ? value.slice(0, DESCRIBE_MAX + 1) : value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
    case 'function':
      return `(${typeof value})`;
  }
  if (value === null) return 'null';
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return `(${(value as ArrayBuffer).byteLength} bytes)`;
  const array = Array.isArray(value);
  if (depth >= 3) return array ? '[…]' : '{…}';
  const parts: string[] = [];
  let length = 0;
  const keys = array ? undefined : Object.keys(value as object);
  const count = array ? (value as unknown[]).length : keys!.length;
  for (let i = 0; i < count && length <= DESCRIBE_MAX; i++) {
    const part = array
      ? preview((value as unknown[])[i], depth + 1)
      : `${JSON.stringify(keys![i]!.slice(0, DESCRIBE_MAX))}:${preview((value as Record<string, unknown>)[keys![i]!], depth + 1)}`;
    parts.push(part);
    length += part.length + 1;
  }
  const more = parts.length < count ? ',…' : '';
  return array ? `[${parts.join(',')}${more}]` : `{${parts.join(',')}${more}}`;
}

/** Deepest nesting of arrays and objects accepted in a client's JSON; seeds' messages use 3. */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `text` opens more than `max` arrays/objects at once, found by one scan that skips
 * strings, with no recursion: JSON.parse copes with deep input, but whatever walks the result
 * recursively afterwards (a prototype-key filter, a describer) may not.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
