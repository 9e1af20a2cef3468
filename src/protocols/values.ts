import { ErrorCode, ProtocolError } from './errors.js';
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

export function describe(raw: unknown): string {
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
