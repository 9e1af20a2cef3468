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
  /** Input sent to a stream that takes none (Socket.IO: anything but a browser session), or before subscribing. */
  InputNotAccepted: 'input_not_accepted',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export { CloseCode } from './close-codes.js';

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
