import { FramehubError, type ErrorCode } from '../wire/errors.js';

/** A refused publish or job step; `code` goes on the wire, its HTTP status comes from the error table. */
export class GenerationError extends FramehubError {
  override readonly name = 'GenerationError';
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
