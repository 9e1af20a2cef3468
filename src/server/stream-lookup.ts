import { StreamUnavailableError, type Hub } from '../hub/hub.js';
import type { Stream } from '../hub/stream.js';
import { CloseCode, ErrorCode, ProtocolError } from '../protocols/errors.js';

/**
 * A client-supplied stream id that was refused: the wire code and sentence every transport
 * sends, and the close code a WebSocket route ends with (Socket.IO keeps the socket).
 */
export class StreamRefusal extends ProtocolError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly closeCode: CloseCode,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/**
 * The stream for a client-supplied id, resolved through the hub, or a thrown StreamRefusal:
 * `stream_not_found` / 4404 for an id nothing owns, `stream_unavailable` / 1013 for one that
 * cannot be opened now, `internal_error` / 1011 when a resolver fails otherwise (the failure
 * is the refusal's `cause`, for the log). One place, so every route refuses alike.
 */
export function resolveStream(hub: Hub, id: string): Stream {
  let stream: Stream | undefined;
  try {
    stream = hub.resolve(id);
  } catch (error) {
    if (error instanceof StreamUnavailableError) throw new StreamRefusal(ErrorCode.StreamUnavailable, error.message, CloseCode.TryAgainLater);
    throw new StreamRefusal(ErrorCode.InternalError, 'the stream could not be opened', CloseCode.InternalError, { cause: error });
  }
  if (!stream) throw new StreamRefusal(ErrorCode.StreamNotFound, `no stream with id ${JSON.stringify(id.slice(0, 128))}`, CloseCode.NotFound);
  return stream;
}
