/**
 * Base64 and data-URL decoding without Node built-ins. Uses the fastest decoder the runtime
 * has: `Uint8Array.fromBase64` (newer engines), Node's and Bun's global `Buffer`, else `atob`.
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const WHITESPACE = /\s+/g;

/** Decodes standard or URL-safe base64 (whitespace ignored); `undefined` when `text` is not base64. */
export function decodeBase64(text: string): Uint8Array | undefined {
  let clean = text.includes('\n') || text.includes(' ') || text.includes('\r') ? text.replace(WHITESPACE, '') : text;
  if (clean.length === 0) return undefined;
  if (!BASE64.test(clean)) {
    if (!BASE64URL.test(clean)) return undefined;
    clean = clean.replace(/-/g, '+').replace(/_/g, '/');
  }
  const unpadded = clean.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  const padded = unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);
  const fromBase64 = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64;
  if (fromBase64) return fromBase64(padded);
  const NodeBuffer = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
  if (NodeBuffer) {
    const buf = NodeBuffer.from(padded, 'base64');
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export interface DataUrl {
  mimeType: string;
  bytes: Uint8Array;
}

/** Parses `data:<mime>[;base64],<data>`; `undefined` when `text` is not a well-formed data URL. */
export function parseDataUrl(text: string): DataUrl | undefined {
  if (!text.startsWith('data:')) return undefined;
  const comma = text.indexOf(',');
  if (comma < 0) return undefined;
  const header = text.slice(5, comma).split(';');
  const mimeType = (header[0] || 'text/plain').toLowerCase();
  const body = text.slice(comma + 1);
  if (header.slice(1).some((part) => part.toLowerCase() === 'base64')) {
    const bytes = decodeBase64(body);
    return bytes && { mimeType, bytes };
  }
  try {
    return { mimeType, bytes: new TextEncoder().encode(decodeURIComponent(body)) };
  } catch {
    return undefined;
  }
}
