import { FramehubError, type ErrorCode } from '../wire/errors.js';

/** A client's message or query string breaks its protocol; `code` goes on the wire. */
export class ProtocolError extends FramehubError {
  override readonly name = 'ProtocolError';
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
