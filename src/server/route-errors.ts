import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode, FramehubError } from '../wire/errors.js';

/**
 * The one guard every route goes through: whatever a handler threw becomes a FramehubError.
 * framehub's own refusals pass as they are; Fastify's body errors (malformed JSON, too large,
 * wrong content type) are the client's fault and get their codes; a timeout is `timeout`;
 * anything else is a bug, logged here and answered `internal_error` without its internals.
 */
export function refusalOf(error: unknown, log: FastifyBaseLogger, what: string): FramehubError {
  if (error instanceof FramehubError) return error;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return new FramehubError(ErrorCode.BodyTooLarge, `body too large (${message})`);
    if (status === 415) return new FramehubError(ErrorCode.UnsupportedMediaType, message);
    if (/JSON/i.test(`${(error as { code?: unknown }).code} ${message}`)) return new FramehubError(ErrorCode.InvalidJson, `body is not valid JSON: ${message}`);
    return new FramehubError(ErrorCode.InvalidBody, message);
  }
  // playwright-core's TimeoutError (a screenshot of a page that would not render in time).
  if (error instanceof Error && error.name === 'TimeoutError') return new FramehubError(ErrorCode.Timeout, 'the page did not answer in time');
  log.error({ err: error }, `${what} failed`);
  return new FramehubError(ErrorCode.InternalError, 'the server could not handle this request');
}

/** How a family of REST routes writes an error body: each keeps the shape its clients read. */
export type ErrorBody = (error: FramehubError) => unknown;

/**
 * Answers every error thrown in `scope` (a Fastify plugin scope) with its table status and
 * `body`. `explain` may replace a generic refusal with one that names the scope's own limits.
 */
export function answerErrors(
  scope: FastifyInstance,
  what: string,
  body: ErrorBody,
  explain: (refusal: FramehubError, request: FastifyRequest) => FramehubError = (refusal) => refusal,
): void {
  scope.setErrorHandler(function routeErrorHandler(error, request, reply) {
    const refusal = explain(refusalOf(error, request.log, what), request);
    return reply.code(refusal.status).send(body(refusal));
  });
}
