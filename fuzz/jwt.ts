import { createHmac } from 'node:crypto';

/**
 * HS256 tokens built by hand: the fuzzer needs tokens a JOSE library refuses to sign
 * (`alg: none`, a `crit` header naming a parameter nobody knows, a header that is not JSON).
 */
function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

export function signHs256(header: string, payload: string, secret: string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** A good token with `scope` (access.ts): `view` watches every stream and reads the generation routes. */
export function validToken(secret: string, subject = 'fuzz', scope = 'view'): string {
  const now = Math.floor(Date.now() / 1000);
  return signHs256('{"alg":"HS256","typ":"JWT"}', JSON.stringify({ sub: subject, iat: now, exp: now + 3600, scope }), secret);
}

/** Bad tokens, each with the error code the README promises before the 4401 close. */
export function badTokens(secret: string): readonly (readonly [string, string])[] {
  const now = Math.floor(Date.now() / 1000);
  const claims = JSON.stringify({ sub: 'fuzz', exp: now + 3600 });
  const crit = 'ü'.repeat(60);
  return [
    ['token_invalid', 'not-a-jwt'],
    ['token_invalid', 'a.b.c'],
    ['token_invalid', signHs256('{"alg":"HS256"}', claims, 'a-different-secret-of-enough-length')],
    ['token_invalid', signHs256(`{"alg":"HS256","crit":["${crit}"],"${crit}":1}`, claims, secret)],
    ['token_invalid', signHs256('{"alg":"HS256","crit":"b64"}', claims, secret)],
    ['token_invalid', signHs256('{"alg":"HS256"', claims, secret)],
    ['token_invalid', signHs256('{"alg":"HS256"}', `${'['.repeat(6000)}${']'.repeat(6000)}`, secret)],
    ['token_invalid', signHs256('{"alg":"HS512"}', claims, secret)],
    ['token_alg_none', `${b64url('{"alg":"none"}')}.${b64url(claims)}.`],
    ['token_expired', signHs256('{"alg":"HS256"}', JSON.stringify({ sub: 'fuzz', exp: now - 60 }), secret)],
    ['token_not_yet_valid', signHs256('{"alg":"HS256"}', JSON.stringify({ sub: 'fuzz', nbf: now + 3600, exp: now + 7200 }), secret)],
    ['token_invalid', signHs256('{"alg":"HS256"}', JSON.stringify({ sub: 'fuzz', exp: 'soon' }), secret)],
    // No exp: it would be good forever.
    ['token_invalid', signHs256('{"alg":"HS256"}', JSON.stringify({ sub: 'fuzz', scope: 'view' }), secret)],
    // Issued longer ago than JWT_MAX_AGE (a day by default), though its exp lies ahead.
    ['token_too_old', signHs256('{"alg":"HS256"}', JSON.stringify({ sub: 'fuzz', scope: 'view', iat: now - 3 * 86_400, exp: now + 3600 }), secret)],
    ['token_too_old', signHs256('{"alg":"HS256"}', JSON.stringify({ sub: 'fuzz', scope: 'view', exp: now + 400 * 86_400 }), secret)],
  ];
}
