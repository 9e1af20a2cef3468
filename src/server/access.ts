import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { WebSocket } from 'ws';
import type { Config } from '../config/config.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { AuthError, OPEN_PRINCIPAL, bearerToken, createTokenVerifier, producerTokenMatches, seesAllGenerations, staticTokenOwner, tokenFromRequest, type Principal, type TokenVerifier } from './auth.js';
import { refusalOf } from './route-errors.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { closeSocket } from './ws-close.js';
import { ShareLinks, type ShareRegistry } from './share-links.js';

/**
 * What a route asks for: `view` (every stream), `view:<stream id>`, `control` (every session),
 * `control:<session id>`, `publish`, `admin`. See `allows` for what grants what.
 */
export type Need = string;

/** A WebSocket route behind `Access.upgrade`: it learns who connected, for what only the owner reaches. */
export type GuardedHandler = (ws: WebSocket, req: IncomingMessage, url: URL, params: Record<string, string>, principal: Principal) => void;

/** A refusal for a valid token that lacks the scope: 403 / 4403. */
export class AccessError extends FramehubError {
  override readonly name = 'AccessError';
}

/** The prefix of a browser session's stream id (sessions/session-registry.ts uses the same). */
export const SESSION_STREAM = 'session:';

/**
 * What acting for a stream beyond watching it (recording it, sharing it) needs: a browser
 * session's driver may (`control:<session id>`); any other stream is the operator's, `admin`.
 */
export function driverOrAdminNeed(streamId: string): Need {
  return streamId.startsWith(SESSION_STREAM) ? `control:${streamId.slice(SESSION_STREAM.length)}` : 'admin';
}

/**
 * Whether `scopes` grant `need`. `admin` grants everything. `view` grants `view:<any>`;
 * `control` grants `control:<any>`; `control[:<id>]` also grants `view:session:<id>` (who
 * drives a page sees it). Everything else must be held exactly.
 */
export function allows(scopes: ReadonlySet<string>, need: Need): boolean {
  if (scopes.has('admin') || scopes.has(need)) return true;
  const colon = need.indexOf(':');
  const kind = colon === -1 ? need : need.slice(0, colon);
  const target = colon === -1 ? undefined : need.slice(colon + 1);
  if (target === undefined) return false;
  if (scopes.has(kind)) return true; // `view` ⊇ `view:x`, `control` ⊇ `control:x`
  if (kind === 'view' && target.startsWith(SESSION_STREAM)) return allows(scopes, `control:${target.slice(SESSION_STREAM.length)}`);
  return false;
}

/** The scopes that reach every session of their kind, where ownership narrows them to the principal's own. */
const BARE = ['view', 'control'];

/**
 * Whether `principal` reaches something `owner` created (a browser session, its stream) for
 * `need`. Bare `view` and `control` reach only the principal's own; `admin` and a share naming
 * this one session (`control:<id>`, `view:session:<id>`) reach it whoever owns it. Without an
 * owner (an open server made it) the scopes alone decide, as they always did.
 */
export function reaches(principal: Principal, need: Need, owner: string | undefined): boolean {
  if (owner === undefined || principal.owner === owner) return allows(principal.scopes, need);
  const shares = new Set([...principal.scopes].filter((scope) => !BARE.includes(scope)));
  return allows(shares, need);
}

/** One static token (ACCESS_TOKENS or PRODUCER_TOKEN) and what it may do. */
interface StaticToken {
  token: string;
  scopes: ReadonlySet<string>;
}

/** `"<token>=<scope> <scope>; <token2>=<scope>"` (the config checked its shape) as static tokens. */
export function parseAccessTokens(text: string): StaticToken[] {
  return text.split(';').map((part) => part.trim()).filter((part) => part !== '').map((part) => {
    const eq = part.indexOf('=');
    return { token: part.slice(0, eq).trim(), scopes: new Set(part.slice(eq + 1).trim().split(/\s+/)) };
  });
}

/**
 * The one access model every route asks: who a token is (a JWT checked by jose, or a static
 * token compared in constant time) and whether it holds the scope the route needs.
 *
 * Nothing configured (no JWT_SECRET, JWKS_URL or ACCESS_TOKENS) means open, as the seeds'
 * servers are: every request gets the open grant, except `publish`, which still needs
 * PRODUCER_TOKEN (publishing is off without it).
 */
export class Access {
  /** No JWT keys and no static tokens: every route but publishing is open. */
  readonly open: boolean;
  readonly #verifier: TokenVerifier | undefined;
  readonly #statics: StaticToken[];
  /** Whether any token may publish (PRODUCER_TOKEN, a JWT, or a static token with `publish`/`admin`). */
  readonly #publishPossible: boolean;
  /** The share links whose tokens this model also accepts (share-links.ts); unset = none. */
  readonly shares: ShareRegistry | undefined;

  constructor(
    config: Pick<Config, 'jwtSecret' | 'jwksUrl' | 'jwtAudience' | 'jwtIssuer' | 'jwtMaxAge' | 'jwtDefaultScopes' | 'accessTokens' | 'producerToken'>,
    shares?: ShareRegistry,
  ) {
    this.shares = shares;
    this.#verifier = createTokenVerifier({
      jwtSecret: config.jwtSecret,
      jwksUrl: config.jwksUrl,
      audience: config.jwtAudience,
      issuer: config.jwtIssuer,
      maxAgeSeconds: config.jwtMaxAge,
      defaultScopes: config.jwtDefaultScopes.split(/\s+/).filter(Boolean),
    });
    const configured = parseAccessTokens(config.accessTokens);
    this.open = !this.#verifier && configured.length === 0;
    this.#statics = config.producerToken ? [...configured, { token: config.producerToken, scopes: new Set(['publish']) }] : configured;
    this.#publishPossible = this.#verifier !== undefined || this.#statics.some((s) => allows(s.scopes, 'publish'));
  }

  /**
   * Who `token` is; an AuthError (401 / 4401) when it is missing or not valid. Open: the open
   * grant, except for a share-link token, which is its link's principal open or not (a `view`
   * link must not drive the page because the server happens to be open).
   */
  async identify(token: string | undefined): Promise<Principal> {
    if (this.open && !this.carriesShare(token)) return OPEN_PRINCIPAL;
    return this.#check(token);
  }

  /** Whether `token` is a share link's that this server checks (a new connection with it counts as a use: `admit`). */
  carriesShare(token: string | undefined): boolean {
    return this.shares !== undefined && ShareLinks.claims(token);
  }

  /**
   * `authorize` for a new connection: a share link's token also counts one use of its link
   * (refused `token_used_up` once `max_uses` are spent). REST requests are not counted.
   */
  async admit(token: string | undefined, need: Need | undefined): Promise<Principal> {
    const principal = need === undefined ? await this.identify(token) : await this.authorize(token, need);
    if (principal.share) await this.shares?.use(principal.share.id);
    return principal;
  }

  /**
   * The grant of `token` when it holds `need`; otherwise an AuthError (401) for a missing or
   * invalid token, an AccessError (403) for a valid one without the scope.
   */
  async authorize(token: string | undefined, need: Need): Promise<Principal> {
    if (need === 'publish') {
      if (!this.#publishPossible) throw new FramehubError(ErrorCode.PublishDisabled, 'publishing is disabled: the server has no producer token (PRODUCER_TOKEN)');
      // Open or not, publishing takes a token that carries it.
      let principal: Principal;
      try {
        principal = await this.#check(token);
      } catch (error) {
        // Producers have always been told `unauthorized`; a JWT's own reason (expired, …) stays.
        if (error instanceof AuthError && (error.code === 'token_missing' || error.unknownStatic)) {
          throw new FramehubError(ErrorCode.Unauthorized, 'unauthorized: missing or wrong producer token (Authorization: Bearer <PRODUCER_TOKEN>)');
        }
        throw error;
      }
      this.require(principal, need);
      return principal;
    }
    const principal = await this.identify(token);
    this.require(principal, need);
    return principal;
  }

  /** Throws an AccessError unless `principal` holds `need`. */
  require(principal: Principal, need: Need): void {
    if (!allows(principal.scopes, need)) {
      throw new AccessError(ErrorCode.ScopeMissing, `forbidden: the token lacks scope ${need.length > 200 ? `${need.slice(0, 200)}…` : need}`);
    }
  }

  async #check(token: string | undefined): Promise<Principal> {
    if (!token) throw new AuthError('token_missing', 'unauthorized: no token (send ?token=, an Authorization header or the bearer subprotocol)');
    // A share link is checked against its registry only: signed with JWT_SECRET it would verify as an ordinary JWT too.
    if (this.shares && ShareLinks.claims(token)) return this.shares.verify(token);
    // Every static token is compared, matched or not: the time taken does not say which matched.
    let found: StaticToken | undefined;
    for (const candidate of this.#statics) if (producerTokenMatches(token, candidate.token) && !found) found = candidate;
    if (found) return { userId: undefined, all: seesAllGenerations(found.scopes), scopes: found.scopes, owner: staticTokenOwner(found.token) };
    if (!this.#verifier) throw Object.assign(new AuthError('token_invalid', 'unauthorized: unknown token'), { unknownStatic: true });
    return this.#verifier.verify(token);
  }

  /**
   * A Fastify `onRequest` hook: the token from `Authorization: Bearer` or `?token=` must hold
   * `need(request)`. The refusal goes to the route family's error handler (its own body shape).
   */
  hook(need: (request: FastifyRequest) => Need): onRequestHookHandler {
    const access = this;
    return async function checkAccess(request: FastifyRequest, reply: FastifyReply) {
      try {
        grants.set(request, await access.authorize(restToken(request), need(request)));
      } catch (error) {
        if (error instanceof FramehubError && error.status === 401) void reply.header('www-authenticate', 'Bearer');
        throw error;
      }
    };
  }

  /**
   * Wraps a WebSocket route: the token (`?token=`, `Authorization: Bearer`, the `bearer, <jwt>`
   * subprotocol) must hold `need`; otherwise `refuse` answers in the route's own shape and
   * closes (4401 / 4403 / 1013). Nothing is read while the token is checked (a message sent at
   * `open` waits in the socket). The connection is closed with 4401 when the token expires.
   */
  upgrade(
    need: (req: IncomingMessage, url: URL, params: Record<string, string>) => Need,
    handler: GuardedHandler,
    refuse: (ws: WebSocket, error: FramehubError) => void,
    log: Parameters<typeof refusalOf>[1],
  ): UpgradeHandler {
    const access = this;
    return function handleGuardedSocket(ws, req, url, params) {
      // Open and not publishing: as the seeds' servers, with no tick in between.
      let wanted: Need;
      try {
        wanted = need(req, url, params);
      } catch (error) {
        return refuse(ws, refusalOf(error, log, 'access check'));
      }
      const token = tokenFromRequest(req, url);
      if (access.open && wanted !== 'publish' && !access.carriesShare(token)) return handler(ws, req, url, params, OPEN_PRINCIPAL);
      ws.pause();
      access.admit(token, wanted).then(
        (principal) => {
          if (ws.readyState === WebSocket.OPEN) {
            closeAtExpiry(ws, principal, (error) => refuse(ws, error));
            try {
              handler(ws, req, url, params, principal);
            } catch (error) {
              // As the upgrade router does for a handler it calls itself: one connection lost, never the process.
              refuse(ws, refusalOf(error, log, 'websocket route handler'));
            }
          }
          ws.resume(); // read what waited during the check (a closing handshake needs reading too)
        },
        (error: unknown) => {
          ws.resume();
          // An AuthError closes with 4401, a missing scope with 4403, an unreachable JWKS with 1013.
          refuse(ws, refusalOf(error, log, 'token check'));
        },
      );
    };
  }
}

/**
 * Whether `principal` sees what belongs to `owner` (a job's or image's user): their own, what
 * has no user, or everything with `generations:all` / `admin`. Every generation route asks this.
 */
export function seesOwner(principal: Principal, owner: string | undefined): boolean {
  return principal.all || owner === undefined || owner === principal.userId;
}

const grants = new WeakMap<FastifyRequest, Principal>();

/** The grant `Access.hook` found for a request (the open grant when the route has no hook). */
export function grantOf(request: FastifyRequest): Principal {
  return grants.get(request) ?? OPEN_PRINCIPAL;
}

/** A REST request's token: `Authorization: Bearer`, else `?token=` (what an `<img src>` can carry). */
export function restToken(request: FastifyRequest): string | undefined {
  const header = bearerToken(request.headers.authorization);
  if (header) return header;
  const query = (request.query as Record<string, unknown> | undefined)?.['token'];
  return typeof query === 'string' && query !== '' ? query : undefined;
}

/**
 * A token is checked once, at connect: the connection ends (4401 `token_expired`) when it
 * expires, so the client comes back with a fresh one; one made with a share link also ends when
 * the link is revoked (4401 `token_revoked`) or expires.
 */
export function closeAtExpiry(ws: WebSocket, principal: Principal, refuse: (error: FramehubError) => void = (error) => closeSocket(ws, error.closeCode, error.message)): void {
  const stop = whenGrantEnds(principal, refuse);
  ws.once('close', function socketOnCloseClearExpiry() {
    stop();
  });
}

/**
 * Calls `onEnd` once when `principal`'s grant ends: its token's expiry, or its share link's
 * revocation or expiry. Returns the function that stops watching (call it when the connection ends).
 */
export function whenGrantEnds(principal: Principal, onEnd: (error: AuthError) => void): () => void {
  let ended = false;
  const end = (error: AuthError) => {
    if (ended) return;
    ended = true;
    stop();
    onEnd(error);
  };
  let unwatch: (() => void) | undefined;
  const timer = principal.expiresAt === undefined ? undefined : setTimeout(() => {
    end(new AuthError('token_expired', 'unauthorized: token expired'));
  }, Math.min(Math.max(0, principal.expiresAt - Date.now()), 2 ** 31 - 1));
  unwatch = principal.share?.watch(end);
  function stop() {
    ended = true;
    clearTimeout(timer);
    unwatch?.();
  }
  return stop;
}

/** The one warning of an open server reachable from elsewhere. */
export function openWarning(host: string): string | undefined {
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '[::1]';
  if (loopback) return undefined;
  return `framehub is OPEN to everyone who can reach ${host}: no JWT_SECRET, JWKS_URL or ACCESS_TOKENS is set, so anyone can watch every stream, `
    + 'drive every browser session and read every generation. Set one of them (docs/security.md) or bind HOST=127.0.0.1.';
}
