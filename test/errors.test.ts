import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { closeCodeOf, ErrorCode, FramehubError, httpStatusOf } from '../src/wire/errors.js';
import { CloseCode } from '../src/wire/close-codes.js';
import { refusalOf } from '../src/server/route-errors.js';
import { GenerationError } from '../src/generations/generation-error.js';
import { SessionError } from '../src/sessions/session-registry.js';
import { InputError } from '../src/sessions/input.js';
import { UrlRefused } from '../src/sessions/url-guard.js';
import { NavigationError } from '../src/sessions/session.js';
import { StreamUnavailableError } from '../src/hub/hub.js';
import { VariantLimitError } from '../src/hub/variant.js';
import { AuthError } from '../src/server/auth.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';

const silent = pino({ level: 'silent' });

describe('the error table', () => {
  it('gives every named code an HTTP status and a close code', () => {
    for (const code of Object.values(ErrorCode)) {
      const status = httpStatusOf(code);
      assert.ok(status >= 400 && status < 600, `${code}: ${status}`);
      assert.ok(Object.values(CloseCode).includes(closeCodeOf(code)), `${code}: close ${closeCodeOf(code)}`);
    }
  });

  it('keeps the statuses and close codes clients already act on', () => {
    assert.equal(new FramehubError('stream_not_found', 'x').closeCode, 4404);
    assert.equal(new FramehubError('invalid_query', 'x').closeCode, 4400);
    assert.equal(new FramehubError('rate_limited', 'x').closeCode, 4429);
    assert.equal(new FramehubError('stream_ended', 'x').closeCode, 4410);
    assert.equal(new AuthError('token_expired', 'x').closeCode, 4401);
    // An unreachable JWKS is not the token's fault: try again later, not "stop, new token".
    assert.equal(new AuthError('auth_unavailable', 'x').closeCode, 1013);
    assert.equal(new FramehubError('publish_disabled', 'x').closeCode, 4403);
    assert.equal(new GenerationError('job_exists', 'x').status, 409);
    assert.equal(new GenerationError('body_too_large', 'x').status, 413);
    assert.equal(new SessionError('too_many_sessions', 'x').status, 429);
    assert.equal(new UrlRefused('url_unresolvable', 'x').status, 502);
  });

  it('is the base of every refusal a route answers', () => {
    const refusals: FramehubError[] = [
      new ProtocolError('invalid_message', 'x'),
      new GenerationError('job_not_found', 'x'),
      new SessionError('session_not_found', 'x'),
      new InputError('x'),
      new UrlRefused('url_refused', 'x'),
      new NavigationError('x'),
      new StreamUnavailableError('x'),
      new VariantLimitError(16),
      new AuthError('token_invalid', 'x'),
    ];
    for (const refusal of refusals) assert.ok(refusal instanceof FramehubError, refusal.name);
    assert.deepEqual(refusals.map((r) => r.status), [400, 404, 404, 400, 403, 502, 503, 503, 401]);
  });
});

describe('refusalOf, the route guard', () => {
  it('passes framehub\'s own refusals through unchanged', () => {
    const error = new SessionError('session_exists', 'session a already exists');
    assert.equal(refusalOf(error, silent, 'test'), error);
  });

  it('maps Fastify\'s body errors to the client\'s fault by status', () => {
    const fastify = (statusCode: number, message: string, code = 'FST_ERR') => Object.assign(new Error(message), { statusCode, code });
    assert.equal(refusalOf(fastify(400, 'Unexpected token', 'FST_ERR_CTP_INVALID_JSON_BODY'), silent, 't').code, 'invalid_json');
    assert.equal(refusalOf(fastify(413, 'Request body is too large'), silent, 't').code, 'body_too_large');
    assert.equal(refusalOf(fastify(415, 'Unsupported Media Type'), silent, 't').code, 'unsupported_media_type');
    assert.equal(refusalOf(fastify(400, 'body/x must be string'), silent, 't').code, 'invalid_body');
  });

  it('answers a bug as internal_error without its message, and logs it', () => {
    const logged: unknown[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const refusal = refusalOf(new TypeError('secret internals at /srv/x.js:12'), log, 'test');
    assert.equal(refusal.code, 'internal_error');
    assert.equal(refusal.status, 500);
    assert.doesNotMatch(refusal.message, /secret/);
    assert.equal(logged.length, 1);
  });

  it('answers a thrown non-Error (a string, null) the same way, never throwing itself', () => {
    assert.equal(refusalOf('boom', silent, 't').code, 'internal_error');
    assert.equal(refusalOf(null, silent, 't').code, 'internal_error');
    assert.equal(refusalOf(Object.assign(new Error('t'), { name: 'TimeoutError' }), silent, 't').status, 504);
  });
});
