import { sniffImage, type ImageInfo } from '../image/sniff.js';
import { decodeBase64, parseDataUrl } from './base64.js';

/**
 * Finds the images in one WebSocket message, whatever server sent it: binary image bytes;
 * seeds/002 frames `{type:'frame', data:{data_url}}`; Socket.IO-style `{image}` and
 * `{image, metadata}`; seeds/000 `{type:'image-generated', data:{base64Data, mimeType, params}}`;
 * seeds/001 envelopes whose payload carries a data URL; bare base64 and bare data URLs.
 * Pure: no sockets, no clock.
 */

export interface DecodedImage {
  bytes: Uint8Array;
  /** What the bytes themselves say; `undefined` for a format the sniffer does not know. */
  sniffed: ImageInfo | undefined;
  /** What the server said about the image (flattened); only fills gaps left by `sniffed`. */
  server: Record<string, unknown>;
}

export interface DecodeResult {
  images: DecodedImage[];
  /** The parsed JSON, when the message was JSON. */
  json?: unknown;
  /** A top-level `id` the server attached (for `?since=` on reconnect). */
  eventId?: string;
  /** The message claimed to be something it is not (bad JSON, broken base64 in an image field). */
  error?: Error;
}

/** Fields whose string value is an image by contract, even when the sniffer cannot tell its format. */
const EXPLICIT_IMAGE_KEYS = ['data_url', 'dataUrl', 'base64Data', 'image', 'imageData', 'image_data'] as const;
/** Fields that hold an image only sometimes: accepted when the bytes are a known image format. */
const LOOSE_IMAGE_KEYS = ['base64', 'frame', 'data', 'image_url', 'imageUrl', 'url'] as const;
/** Below this, a bare string is a word, not base64 of an image (the smallest GIF is 26 bytes). */
const MIN_BARE_BASE64 = 24;
const BARE_BASE64 = /^[A-Za-z0-9+/_\-\s]+={0,2}\s*$/;
const SOCKET_IO_EVENT = /^\d*\[/;

export function decodeMessage(data: string | Uint8Array): DecodeResult {
  if (typeof data !== 'string') {
    const sniffed = sniffImage(data);
    return { images: sniffed ? [{ bytes: data, sniffed, server: {} }] : [] };
  }
  const text = data.trim();
  if (text.startsWith('data:')) return { images: fromDataUrl(text, {}, true) };
  if (text.startsWith('{')) return decodeJson(text);
  if (SOCKET_IO_EVENT.test(text)) return decodeEventArray(text);
  if (text.length >= MIN_BARE_BASE64 && BARE_BASE64.test(text)) {
    const bytes = decodeBase64(text);
    const sniffed = bytes && sniffImage(bytes);
    if (bytes && sniffed) return { images: [{ bytes, sniffed, server: {} }] };
  }
  return { images: [] };
}

function decodeJson(text: string): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { images: [], error: new SyntaxError(`malformed JSON message: ${(error as Error).message}`, { cause: error }) };
  }
  return { ...imagesInObject(json), json, ...eventIdOf(json) };
}

/** A Socket.IO / Engine.IO event packet sent over a plain WebSocket: `42["frame",{...}]`. */
function decodeEventArray(text: string): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(text.slice(text.indexOf('[')));
  } catch (error) {
    return { images: [], error: new SyntaxError(`malformed event packet: ${(error as Error).message}`, { cause: error }) };
  }
  if (!Array.isArray(json)) return { images: [], json };
  const event = typeof json[0] === 'string' ? json[0] : undefined;
  const images: DecodedImage[] = [];
  let error: Error | undefined;
  for (const arg of json.slice(event === undefined ? 0 : 1)) {
    const found = typeof arg === 'string' ? decodeMessage(arg) : imagesInObject(arg);
    for (const image of found.images) images.push(event ? { ...image, server: { event, ...image.server } } : image);
    error ??= found.error;
  }
  return { images, json, ...(error && { error }) };
}

function imagesInObject(value: unknown): { images: DecodedImage[]; error?: Error } {
  if (!isObject(value)) return { images: [] };
  const top = value;
  // The image lives at the top (`{image}`), under `data` (seeds/000, seeds/002) or under
  // `payload` (seeds/001 envelopes). Outer fields such as `type` describe the inner image too.
  const containers: Array<Record<string, unknown>> = [top];
  if (isObject(top['data'])) containers.push(top['data']);
  if (isObject(top['payload'])) containers.push(top['payload']);
  for (const container of containers) {
    const outer = container === top ? {} : scalarFields(top);
    const found = imagesInContainer(container, outer);
    if (found.images.length > 0 || found.error) return found;
  }
  return { images: [] };
}

function imagesInContainer(container: Record<string, unknown>, outer: Record<string, unknown>): { images: DecodedImage[]; error?: Error } {
  const describe = (imageKey: string) => serverMetadata(container, imageKey, outer);
  for (const key of EXPLICIT_IMAGE_KEYS) {
    const value = container[key];
    if (typeof value !== 'string' || value === '') continue;
    const server = describe(key);
    const images = fromString(value, server, true);
    if (images.length > 0) return { images };
    // A dedicated image field that does not decode is the server's bug; say so.
    return { images: [], error: new Error(`field "${key}" does not hold base64 or a data URL`) };
  }
  for (const key of LOOSE_IMAGE_KEYS) {
    const value = container[key];
    if (typeof value !== 'string' || value === '') continue;
    const images = fromString(value, describe(key), false);
    if (images.length > 0) return { images };
  }
  const list = container['images'];
  if (Array.isArray(list)) {
    const server = describe('images');
    const images = list.flatMap((item, index) =>
      typeof item === 'string' ? fromString(item, { ...server, index }, false) : imagesInObject(item).images);
    if (images.length > 0) return { images };
  }
  return { images: [] };
}

function fromString(value: string, server: Record<string, unknown>, explicit: boolean): DecodedImage[] {
  const text = value.trim();
  if (text.startsWith('data:')) return fromDataUrl(text, server, explicit);
  if (text.length < 4 || /^[a-z]+:\/\//i.test(text)) return []; // a URL to fetch is not image data
  const bytes = decodeBase64(text);
  if (!bytes) return [];
  const sniffed = sniffImage(bytes);
  if (!sniffed && !explicit) return [];
  return [{ bytes, sniffed, server }];
}

function fromDataUrl(text: string, server: Record<string, unknown>, explicit: boolean): DecodedImage[] {
  const parsed = parseDataUrl(text);
  if (!parsed) return [];
  const sniffed = sniffImage(parsed.bytes);
  if (!sniffed && !(explicit && parsed.mimeType.startsWith('image/'))) return [];
  return [{ bytes: parsed.bytes, sniffed, server: { mimeType: parsed.mimeType, ...server } }];
}

/**
 * The server's description of an image: every field of its container but the image itself,
 * `metadata` and `imageInfo` flattened in, the outer message's scalar fields underneath.
 */
function serverMetadata(container: Record<string, unknown>, imageKey: string, outer: Record<string, unknown>): Record<string, unknown> {
  const meta: Record<string, unknown> = { ...outer };
  for (const [key, value] of Object.entries(container)) {
    if (key === imageKey || key === 'metadata' || key === 'imageInfo') continue;
    meta[key] = value;
  }
  const imageInfo = container['imageInfo'];
  if (isObject(imageInfo)) {
    if (typeof imageInfo['filename'] === 'string') meta['filename'] = imageInfo['filename'];
    meta['imageInfo'] = imageInfo;
  }
  const metadata = container['metadata'];
  if (isObject(metadata)) Object.assign(meta, metadata);
  return meta;
}

function scalarFields(object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === null || typeof value !== 'object') out[key] = value;
  }
  return out;
}

function eventIdOf(json: unknown): { eventId?: string } {
  if (!isObject(json)) return {};
  const id = json['id'];
  if (typeof id === 'string' && id !== '') return { eventId: id };
  if (typeof id === 'number' && Number.isFinite(id)) return { eventId: String(id) };
  return {};
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
