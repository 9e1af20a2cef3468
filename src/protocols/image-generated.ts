import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { describe, parseJsonObject } from './values.js';
import type { ImageGeneratedParams } from '../wire/image-generated.js';

/**
 * seeds/000's `/ws/streaming` protocol (PixelSocket): one `image-generated` JSON message per
 * generated image, field for field as the seed documents it, plus framehub's top-level `id`
 * (the event id to pass back as `?since=`). Pure: knows nothing about sockets.
 */

export interface ImageGeneratedInfo {
  filename: string;
  subfolder: string;
  type: string;
}

/** Everything of the seed's `data` object but the image itself. */
export interface ImageGeneratedFields {
  mode: 'push';
  promptId: string;
  mimeType: string;
  imageInfo: ImageGeneratedInfo;
  params: ImageGeneratedParams;
  imageIdx: number;
  imageLength: number;
  /** ms since the epoch. */
  timestamp: number;
}

export const IMAGE_GENERATED = 'image-generated';

/**
 * The wire message as UTF-8 bytes. `base64Data` is spliced in rather than re-escaped: base64
 * needs no JSON escaping, and this runs once per event for every client.
 */
export function imageGeneratedMessage(id: number, fields: ImageGeneratedFields, base64Data: string): Buffer {
  const { mode, promptId, mimeType, imageInfo, params, imageIdx, imageLength, timestamp } = fields;
  const head = JSON.stringify({ type: IMAGE_GENERATED, id, data: { mode, promptId } }).slice(0, -2);
  const tail = JSON.stringify({ mimeType, imageInfo, params, imageIdx, imageLength, timestamp }).slice(1);
  return Buffer.from(`${head},"base64Data":"${base64Data}",${tail}}`);
}

export type StreamingCommand = { type: 'subscribe'; mode: 'all' } | { type: 'ping' };

/** Parses what PixelSocket-style clients send: `{"type":"subscribe","mode":"all"}` and `{"type":"ping"}`. */
export function parseStreamingCommand(text: string): StreamingCommand {
  const message = parseJsonObject(text);
  const type = message['type'];
  if (type === 'ping') return { type };
  if (type === 'subscribe') {
    const mode = message['mode'] ?? 'all';
    if (mode !== 'all') throw new ProtocolError(ErrorCode.InvalidMessage, `subscribe mode must be "all" (got ${describe(mode)})`);
    return { type, mode };
  }
  if (type === undefined) throw new ProtocolError(ErrorCode.InvalidMessage, 'message needs a "type" field');
  throw new ProtocolError(ErrorCode.UnknownCommand, `unknown message type ${describe(type)} (known: subscribe, ping)`);
}

export function pongMessage(now: number): string {
  return JSON.stringify({ type: 'pong', timestamp: now });
}

/** Answer to `subscribe`: `lastId` is the newest event id, usable as `?since=` later. */
export function subscribedMessage(mode: 'all', lastId: number): string {
  return JSON.stringify({ type: 'subscribed', mode, lastId });
}

export function streamingErrorMessage(code: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { code, message } });
}

/**
 * Sent instead of events the server no longer has: `evicted` when they fell out of the replay
 * log, `ahead` when `since` is newer than anything the server knows (it restarted).
 */
export function streamingGapMessage(gap: ReplayGap): string {
  return JSON.stringify({ type: 'replay-gap', ...gap });
}

export interface ReplayGap {
  reason: 'evicted' | 'ahead';
  since: number;
  /** First id that will be sent next (events from `since + 1` to `resumeAfter` are gone). */
  resumeAfter: number;
}
