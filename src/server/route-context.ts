import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import type { Config } from '../config/config.js';
import type { Hub } from '../hub/hub.js';
import { VariantLimitError } from '../hub/variant.js';
import type { Stream, StreamNotice, Subscription } from '../hub/stream.js';
import type { VariantSpec } from '../hub/variant-spec.js';
import type { Duplex } from 'node:stream';
import { VariantSink, type VariantWire } from './variant-sink.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { ProtocolError } from '../protocols/protocol-error.js';
import { errorMessage, statusMessage } from '../protocols/stream-json.js';
import { MessageLimiter } from './message-limiter.js';
import { refusalOf } from './route-errors.js';
import { wsSendQuiet } from './ws-send.js';
import { closeSocket } from './ws-close.js';
import { resolveStream } from './stream-lookup.js';
import type { Principal } from './auth.js';

/** What every route handler gets from the composition root. */
export interface RouteContext {
  hub: Hub;
  config: Config;
  log: FastifyBaseLogger;
}

/** Sends the error message and closes with the close code the error table gives its code. */
export function refuse(ws: WebSocket, error: FramehubError): void {
  wsSendQuiet(ws, errorMessage(error.code, error.message));
  closeSocket(ws, error.closeCode, error.message);
}

/** Resolves a stream id (stream-lookup.ts) or refuses the connection with the refusal's code and its close code. */
export function resolveStreamOrRefuse(ws: WebSocket, hub: Hub, id: string, principal: Principal): Stream | undefined {
  try {
    return resolveStream(hub, id, principal);
  } catch (error) {
    if (!(error instanceof FramehubError)) throw error;
    refuse(ws, error);
    return undefined;
  }
}

/** Relays source status and failures to one client as JSON text; a fatal one ends the connection. */
export function noticeRelay(ws: WebSocket): (notice: StreamNotice) => void {
  return (notice) => {
    if (notice.level === 'status') return wsSendQuiet(ws, statusMessage(notice.message, notice.detail));
    if (notice.fatal) return refuse(ws, new FramehubError(ErrorCode.StreamEnded, notice.message));
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
      refuse(ws, new FramehubError(ErrorCode.RateLimited, 'too many messages; slow down'));
      return;
    }
    if (isBinary) {
      wsSendQuiet(ws, errorMessage(ErrorCode.UnsupportedMessage, 'binary messages are not accepted here; send JSON text'));
      return;
    }
    try {
      onCommand(data.toString());
    } catch (error) {
      const refusal = refusalOf(error, log, 'command handler');
      wsSendQuiet(ws, errorMessage(refusal.code, refusal.message));
    }
  });
}

/** Parses query options with `parse`, or refuses with `invalid_query` / 4400. */
export function parseQueryOrRefuse<T>(ws: WebSocket, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    // Anything but a ProtocolError is a bug in a parser; the client still gets a defined answer.
    refuse(ws, error instanceof ProtocolError ? error : new ProtocolError(ErrorCode.InvalidQuery, 'the query string could not be read'));
    return undefined;
  }
}

/**
 * Subscribes a frame route's client: its sink (the variant its options ask for, framed for its
 * wire format) on `stream`, notices relayed to it. Refuses the connection with
 * `too_many_variants` / 1013 when its options would add a variant past the stream's bound.
 */
export function subscribeOrRefuse<O extends VariantSpec & { fps: number }>(
  ws: WebSocket,
  socket: Duplex,
  stream: Stream,
  options: O,
  wire: VariantWire<O>,
  log: FastifyBaseLogger,
): { client: VariantSink<O>; subscription: Subscription } | undefined {
  let client: VariantSink<O>;
  try {
    client = new VariantSink(ws, socket, stream.variants, options, wire);
  } catch (error) {
    if (!(error instanceof VariantLimitError)) throw error;
    refuse(ws, error);
    return undefined;
  }
  const subscription = stream.subscribe({
    fps: options.fps,
    deliver: client,
    onNotice: noticeRelay(ws),
    onDeliverError: (error) => log.debug({ err: error, stream: stream.id }, 'frame delivery failed'),
    need: null, // the client's claimed variant is its need
  });
  return { client, subscription };
}
