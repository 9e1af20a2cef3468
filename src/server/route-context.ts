import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { Config } from '../config/config.js';
import { StreamUnavailableError, type Hub } from '../hub/hub.js';
import type { Stream, StreamNotice } from '../hub/stream.js';
import { CloseCode, ErrorCode, ProtocolError } from '../protocols/errors.js';
import { errorMessage, statusMessage } from '../protocols/stream-json.js';
import { MessageLimiter } from './message-limiter.js';
import { wsSendQuiet } from './ws-send.js';

/** What every route handler gets from the composition root. */
export interface RouteContext {
  hub: Hub;
  config: Config;
  log: FastifyBaseLogger;
}

/** Sends the error message and closes with `closeCode`. */
export function refuse(ws: WebSocket, code: string, message: string, closeCode: number): void {
  wsSendQuiet(ws, errorMessage(code, message));
  ws.close(closeCode, closeReason(message));
}

/**
 * A close reason may hold at most 123 bytes of UTF-8 (ws throws beyond that); client text can
 * end up in it, so cut by bytes, never inside a character.
 */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= 123) return text;
  let end = 120;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back off a continuation byte
  return `${bytes.subarray(0, end).toString()}…`;
}

/**
 * Resolves a stream id or refuses the connection: `stream_not_found` / 4404 for an id nothing
 * owns, `stream_unavailable` / 1013 for one that cannot be opened now.
 */
export function resolveStreamOrRefuse(ws: WebSocket, hub: Hub, id: string): Stream | undefined {
  let stream: Stream | undefined;
  try {
    stream = hub.resolve(id);
  } catch (error) {
    if (!(error instanceof StreamUnavailableError)) throw error;
    refuse(ws, ErrorCode.StreamUnavailable, error.message, CloseCode.TryAgainLater);
    return undefined;
  }
  if (!stream) refuse(ws, ErrorCode.StreamNotFound, `no stream with id ${JSON.stringify(id.slice(0, 128))}`, CloseCode.NotFound);
  return stream;
}

/** Relays source status and failures to one client as JSON text; a fatal one ends the connection. */
export function noticeRelay(ws: WebSocket): (notice: StreamNotice) => void {
  return (notice) => {
    if (notice.level === 'status') return wsSendQuiet(ws, statusMessage(notice.message));
    if (notice.fatal) return refuse(ws, ErrorCode.StreamEnded, notice.message, CloseCode.StreamEnded);
    wsSendQuiet(ws, errorMessage(ErrorCode.SourceError, notice.message));
  };
}

/**
 * Wires a client's incoming messages: text goes to `onCommand`; binary, floods and anything
 * `onCommand` throws as a ProtocolError become error messages. Nothing a client sends can
 * throw out of here.
 */
export function onClientMessages(ws: WebSocket, log: FastifyBaseLogger, onCommand: (text: string) => void): void {
  const limiter = new MessageLimiter();
  ws.on('message', function socketOnMessage(data, isBinary) {
    if (!limiter.take()) {
      refuse(ws, ErrorCode.RateLimited, 'too many messages; slow down', CloseCode.RateLimited);
      return;
    }
    if (isBinary) {
      wsSendQuiet(ws, errorMessage(ErrorCode.UnsupportedMessage, 'binary messages are not accepted here; send JSON text'));
      return;
    }
    try {
      onCommand(data.toString());
    } catch (error) {
      if (error instanceof ProtocolError) {
        wsSendQuiet(ws, errorMessage(error.code, error.message));
      } else {
        log.error({ err: error }, 'command handler failed');
        wsSendQuiet(ws, errorMessage('internal_error', 'the server could not handle this message'));
      }
    }
  });
  ws.on('error', function socketOnError(error) {
    // ws emits protocol violations here (e.g. 1009 over maxPayload) and closes by itself.
    log.debug({ err: error }, 'websocket error');
  });
}

/** Parses query options with `parse`, or refuses with `invalid_query` / 4400. */
export function parseQueryOrRefuse<T>(ws: WebSocket, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    refuse(ws, error.code, error.message, CloseCode.BadRequest);
    return undefined;
  }
}
