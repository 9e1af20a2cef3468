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

export function validToken(secret: string, subject = 'fuzz'): string {
  const now = Math.floor(Date.now() / 1000);
  return signHs256('{"alg":"HS256","typ":"JWT"}', JSON.stringify({ sub: subject, iat: now, exp: now + 3600 }), secret);
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
  ];
}
