/** Stable codes of everything the publish API and the producer socket refuse. */
export const GenerationErrorCode = {
  Unauthorized: 'unauthorized',
  PublishDisabled: 'publish_disabled',
  InvalidBody: 'invalid_body',
  InvalidJson: 'invalid_json',
  BodyTooLarge: 'body_too_large',
  UnsupportedMediaType: 'unsupported_media_type',
  NotAnImage: 'not_an_image',
  JobNotFound: 'job_not_found',
  JobExists: 'job_exists',
  JobFinished: 'job_finished',
  DuplicateImage: 'duplicate_image',
  StoreFailed: 'store_failed',
  ShuttingDown: 'shutting_down',
} as const;
export type GenerationErrorCode = (typeof GenerationErrorCode)[keyof typeof GenerationErrorCode];

const STATUS: Record<GenerationErrorCode, number> = {
  unauthorized: 401,
  publish_disabled: 403,
  invalid_body: 400,
  invalid_json: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  not_an_image: 415,
  job_not_found: 404,
  job_exists: 409,
  job_finished: 409,
  duplicate_image: 409,
  store_failed: 500,
  shutting_down: 503,
};

/** A refused publish: `code` goes on the wire, `status` is its HTTP status. */
export class GenerationError extends Error {
  override readonly name = 'GenerationError';
  readonly status: number;
  constructor(
    readonly code: GenerationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = STATUS[code];
  }
}
