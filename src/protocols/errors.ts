/** Stable error codes sent to clients in `error` messages. */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownCommand: 'unknown_command',
  InvalidOptions: 'invalid_options',
  InvalidQuery: 'invalid_query',
  StreamNotFound: 'stream_not_found',
  StreamUnavailable: 'stream_unavailable',
  UnsupportedMessage: 'unsupported_message',
  NoFrame: 'no_frame',
  EncodeFailed: 'encode_failed',
  SourceError: 'source_error',
  StreamEnded: 'stream_ended',
  RateLimited: 'rate_limited',
  /** A bug on the server's side; the connection goes on (or closes with 1011 when it cannot). */
  InternalError: 'internal_error',
  /** The stream already serves as many distinct variants as it may; ask for one in use. */
  TooManyVariants: 'too_many_variants',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes framehub uses, with the reason sent beside them. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** ws closes with this itself when a message exceeds `maxPayload`. */
  MessageTooBig: 1009,
  PolicyViolation: 1008,
  InternalError: 1011,
  /** The stream exists but cannot be opened now (a limit is reached). */
  TryAgainLater: 1013,
  /** The connection URL's query string is invalid. */
  BadRequest: 4400,
  /** The stream id names no stream. */
  NotFound: 4404,
  /** The stream ended for good (e.g. its window closed). */
  StreamEnded: 4410,
  /** The client sent too many messages too fast. */
  RateLimited: 4429,
} as const;

/** A client did something the protocol does not allow; `code` goes on the wire. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
