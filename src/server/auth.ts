import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { FramehubError } from '../wire/errors.js';

export type AuthFailure = 'token_missing' | 'token_invalid' | 'token_expired' | 'token_too_old' | 'token_alg_none' | 'token_not_yet_valid' | 'token_revoked' | 'token_used_up' | 'auth_unavailable';

/** Why a token was refused; `code` goes into the error message, `message` into the close reason. */
export class AuthError extends FramehubError {
  override readonly name = 'AuthError';
  declare readonly code: AuthFailure;
  /** A token that is no static token, where no JWT key is configured to try it as one. */
  unknownStatic?: boolean;
  constructor(code: AuthFailure, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Who a consumer is. */
export interface Principal {
  /** `sub` (or `user_id`) of the token; `undefined` on an open route. */
  userId: string | undefined;
  /** Sees every user's jobs: the token has scope `generations:all` or `admin`, or role `admin`. */
  all: boolean;
  /** When the token expires (ms since the epoch); the connection is closed then, so the client comes back with a fresh one. */
  expiresAt?: number;
  /** What the token may do (access.ts reads them): `view`, `view:<stream>`, `control`, `control:<session>`, `publish`, `admin`, … */
  scopes: ReadonlySet<string>;
  /**
   * Whom what this principal creates belongs to (a browser session): `user:<sub>` for a JWT,
   * `token:<12 hex of its sha256>` for a static token (the token itself must not be shown to
   * an admin listing sessions). `undefined` on an open server and for a JWT without `sub`.
   */
  owner?: string;
  /** Set when the token is a share link (share-links.ts): connections watch it, to end when it is revoked or expires. */
  share?: ShareGrant;
}

/** What a connection made with a share link needs of it. */
export interface ShareGrant {
  /** The link's id (the token's `jti`). */
  readonly id: string;
  /** Calls `onEnd` once when the link is revoked, expires or its target closes; returns the unsubscribe. */
  watch(onEnd: (error: AuthError) => void): () => void;
}

export const OPEN_PRINCIPAL: Principal = { userId: undefined, all: true, scopes: new Set(['admin']) };

/** What every JWT must satisfy besides its signature. */
export interface JwtRules {
  /** Required `aud` ('' = not checked). */
  audience?: string;
  /** Required `iss` ('' = not checked). */
  issuer?: string;
  /** Seconds a token may be old; 0 = no limit. Measured from `iat`, or, without one, as how far ahead its `exp` lies. */
  maxAgeSeconds?: number;
  /** Scopes of a token without a scope claim. */
  defaultScopes?: readonly string[];
}

export interface TokenVerifier {
  /** `hs256` with JWT_SECRET, `jwks` with JWKS_URL. */
  readonly kind: 'hs256' | 'jwks';
  verify(token: string | undefined): Promise<Principal>;
}

// Everything jose verifies with an asymmetric JWKS key; HS256 stands alone with a shared secret.
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** The verifier the config asks for, or `undefined` when neither a secret nor a JWKS URL is set (open route). */
export function createTokenVerifier(options: { jwtSecret?: string; jwksUrl?: string } & JwtRules): TokenVerifier | undefined {
  if (options.jwtSecret) {
    const key = new TextEncoder().encode(options.jwtSecret);
    return { kind: 'hs256', verify: (token) => verifyWith(token, key, ['HS256'], options) };
  }
  if (options.jwksUrl) {
    const jwks = createRemoteJWKSet(new URL(options.jwksUrl));
    return { kind: 'jwks', verify: (token) => verifyWith(token, jwks, JWKS_ALGORITHMS, options) };
  }
  return undefined;
}

async function verifyWith(token: string | undefined, key: Parameters<typeof jwtVerify>[1], algorithms: string[], rules: JwtRules): Promise<Principal> {
  if (!token) throw new AuthError('token_missing', 'unauthorized: no token (send ?token=, an Authorization header or the bearer subprotocol)');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (error) {
    throw new AuthError('token_invalid', 'unauthorized: token is not a JWT', { cause: error });
  }
  // jose refuses these too; checked first so the reason says what is wrong.
  if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
    throw new AuthError('token_alg_none', 'unauthorized: unsigned tokens (alg none) are refused');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key as Uint8Array, {
      algorithms,
      // A token without `exp` would be good forever: whoever once saw it could use it.
      requiredClaims: ['exp'],
      ...(rules.audience && { audience: rules.audience }),
      ...(rules.issuer && { issuer: rules.issuer }),
    }));
  } catch (error) {
    throw authErrorFrom(error);
  }
  const expiresAt = checkAge(payload, rules.maxAgeSeconds ?? 0);
  return principalOf(payload, rules.defaultScopes ?? [], expiresAt);
}

/**
 * Refuses a token older than `maxAge` seconds and returns when it stops being usable (ms):
 * its `exp`, or `iat + maxAge` when that comes first. jose's own `maxTokenAge` requires `iat`;
 * many issuers leave it out, so without `iat` the same bound applies to how far ahead `exp`
 * lies: either way no token is good for more than `maxAge` from when it was made (or now).
 */
function checkAge(payload: JWTPayload, maxAge: number): number {
  const exp = (payload.exp as number) * 1000;
  if (maxAge <= 0) return exp;
  const now = Date.now();
  if (typeof payload.iat === 'number') {
    // An `iat` ahead of the clock (beyond a minute of skew) would stretch the bound at will.
    if (payload.iat * 1000 > now + 60_000) throw new AuthError('token_invalid', 'unauthorized: token claim iat lies in the future');
    const until = (payload.iat + maxAge) * 1000;
    if (until <= now) throw new AuthError('token_too_old', `unauthorized: token was issued more than ${maxAge} s ago (JWT_MAX_AGE)`);
    return Math.min(exp, until);
  }
  if (exp - now > maxAge * 1000) throw new AuthError('token_too_old', `unauthorized: token without iat is valid for more than ${maxAge} s (JWT_MAX_AGE)`);
  return exp;
}

/**
 * jose's error as an AuthError with a message of framehub's own: jose's messages quote the
 * token's header (a `crit` parameter's name, say), which is the client's text and may be of
 * any length; it stays in `cause` for the log.
 */
export function authErrorFrom(error: unknown): AuthError {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new AuthError('token_expired', 'unauthorized: token expired', { cause: error });
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new AuthError('token_invalid', 'unauthorized: token algorithm not allowed', { cause: error });
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new AuthError('token_invalid', 'unauthorized: token signature does not verify', { cause: error });
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      // jose names the claim from its own short list (nbf, iat, iss, aud, ...): not client text.
      const { claim, reason } = error as { claim?: unknown; reason?: unknown };
      const name = String(claim ?? '').replace(/[^a-z_]/gi, '').slice(0, 16) || '(unknown)';
      if (claim === 'nbf' && reason === 'check_failed') return new AuthError('token_not_yet_valid', 'unauthorized: token not yet valid (nbf)', { cause: error });
      if (reason === 'missing') return new AuthError('token_invalid', `unauthorized: token has no ${name} claim`, { cause: error });
      return new AuthError('token_invalid', `unauthorized: token claim ${name} is invalid`, { cause: error });
    }
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new AuthError('token_invalid', 'unauthorized: no key in the JWKS matches the token', { cause: error });
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JOSE_GENERIC':
      return new AuthError('auth_unavailable', 'unauthorized: could not fetch the JWKS; try again later', { cause: error });
    default:
      return new AuthError('token_invalid', 'unauthorized: invalid token', { cause: error });
  }
}

function principalOf(payload: JWTPayload, defaultScopes: readonly string[], expiresAt: number): Principal {
  const userId = typeof payload.sub === 'string' ? payload.sub : typeof payload['user_id'] === 'string' ? payload['user_id'] : undefined;
  const rawScope = payload['scope'] ?? payload['scp'] ?? payload['scopes'];
  const claimed = Array.isArray(rawScope) ? rawScope.map(String) : typeof rawScope === 'string' ? rawScope.split(' ') : undefined;
  const scopes = new Set((claimed ?? defaultScopes).filter((scope) => scope !== ''));
  // What `role: admin` has always meant here: every user's generations (not the scope `admin`).
  if (payload['role'] === 'admin') scopes.add('generations:all');
  return { userId, all: seesAllGenerations(scopes), expiresAt, scopes, ...(userId !== undefined && { owner: `user:${userId}` }) };
}

/** A static token's owner: a prefix of its digest names it without giving it away. */
export function staticTokenOwner(token: string): string {
  return `token:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

/** Scope `generations:all` or `admin`: every user's jobs and images. */
export function seesAllGenerations(scopes: ReadonlySet<string>): boolean {
  return scopes.has('generations:all') || scopes.has('admin');
}

/** Subprotocol names that announce a token in the next (or same, after a dot) entry. */
const BEARER_PROTOCOLS = ['bearer', 'access_token', 'jwt'];

/** The token from `?token=`, `Authorization: Bearer …` or the subprotocol list (`bearer, <token>` or `bearer.<token>`). */
export function tokenFromRequest(req: IncomingMessage, url: URL): string | undefined {
  const query = url.searchParams.get('token');
  if (query) return query;
  const header = bearerToken(req.headers.authorization);
  if (header) return header;
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  for (let i = 0; i < protocols.length; i++) {
    const name = protocols[i]!.toLowerCase();
    if (BEARER_PROTOCOLS.includes(name) && protocols[i + 1]) return protocols[i + 1];
    for (const prefix of BEARER_PROTOCOLS) {
      if (name.startsWith(`${prefix}.`)) return protocols[i]!.slice(prefix.length + 1);
    }
  }
  return undefined;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

/** The producer token check, constant-time (hashing first makes the lengths equal). */
export function producerTokenMatches(token: string | undefined, expected: string): boolean {
  if (!token || !expected) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(token), digest(expected));
}
