import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { Clock, TimerHandle } from '../util/clock.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { AuthError, authErrorFrom, type Principal, type ShareGrant } from './auth.js';

/** What a link lets its holder do: watch, or watch and drive (a browser session only). */
export type ShareMode = 'view' | 'control';

/** Bounds of a link's lifetime, seconds: a minute is enough to paste it, a week is a long meeting series. */
export const SHARE_TTL = { min: 60, max: 7 * 86_400, default: 3_600 } as const;
/** Most connections one link may admit (`max_uses`). */
export const MAX_SHARE_USES = 10_000;
/** Links one target (a session, a stream) holds at once, not counting revoked ones (a few of those are kept, see `revoke`). */
export const MAX_LINKS_PER_TARGET = 32;
/** Links the whole server holds at once: targets are bounded too, this only stops a bug from growing the map. */
export const MAX_LINKS = 4_096;

/**
 * The JWT `typ` header of a share-link token. Access routes a token with it here and nowhere
 * else, so a link signed with JWT_SECRET is never taken for one of the identity provider's
 * tokens (which would skip the registry, and with it revocation and `max_uses`).
 */
export const SHARE_TOKEN_TYPE = 'framehub-share+jwt';
const AUDIENCE = 'framehub:share';

/** A wall clock (ms since the epoch) and its timers; tests pass one they move themselves. */
export type WallClock = Clock;
const wallClock: WallClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A link as the list and create answers show it (no token: it is shown once, at creation). */
export interface ShareLinkInfo {
  id: string;
  /** The stream id the link is for; a browser session's is `session:<id>`. */
  target: string;
  mode: ShareMode;
  /** The scope its token carries: `view:<stream>` or `control:<session id>`. */
  scope: string;
  /** Seconds since the epoch. */
  created_at: number;
  expires_at: number;
  max_uses: number | null;
  uses: number;
  revoked: boolean;
}

/** What a registry keeps of a link (times in ms since the epoch). */
export interface ShareRecord {
  id: string;
  target: string;
  mode: ShareMode;
  scope: string;
  createdAt: number;
  expiresAt: number;
  maxUses: number | undefined;
  uses: number;
  revoked: boolean;
}

interface LinkRecord extends ShareRecord {
  /** The connections admitted with it, told when it ends. */
  watchers: Set<(error: AuthError) => void>;
  expiry: TimerHandle | undefined;
}

export interface ShareLinksOptions {
  /** HS256 key; unset = 32 random bytes of this process (links then die with it and hold on no other node). */
  secret?: string;
  clock?: WallClock;
  /** A connection's end handler threw (a bug): logged by the caller, never rethrown into a revoke or a session's close. */
  onError?: (error: unknown) => void;
}

/** A browser session's stream id prefix (access.ts's SESSION_STREAM; access.ts imports this file). */
const SESSION_STREAM = 'session:';

/**
 * The share links of a server: `ShareLinks` holds them in this process; in a cluster
 * (REDIS_URL) `ClusterShareLinks` (server/cluster-share-links.ts) holds them in Redis, so a
 * link works on every node. Callers await every answer (the memory registry's are synchronous).
 */
export interface ShareRegistry {
  /** A new link on `target` and its token. Throws `too_many_shares` past the caps. */
  create(target: string, mode: ShareMode, ttlSeconds: number, maxUses: number | undefined): Promise<{ link: ShareLinkInfo; token: string }>;
  /** The links on `target`, oldest first. */
  list(target: string): ShareLinkInfo[] | Promise<ShareLinkInfo[]>;
  /** Revokes link `id` of `target`; `undefined` when `target` has no such link. */
  revoke(target: string, id: string): ShareLinkInfo | undefined | Promise<ShareLinkInfo | undefined>;
  /** Ends every link on `target` (its session closed). */
  dropTarget(target: string): void | Promise<void>;
  /** The principal of a share-link token, or an AuthError. */
  verify(token: string): Promise<Principal>;
  /** Counts one use (a connection) of link `id`, or an AuthError (`token_used_up`, …). */
  use(id: string): void | Promise<void>;
  close(): void | Promise<void>;
}

/** Why a create was refused: the target's cap, or the server's (the cluster's). */
export function shareRefusal(cap: 'target' | 'all', target: string): FramehubError {
  return cap === 'target'
    ? new FramehubError(ErrorCode.TooManyShares, `too many share links on ${target.slice(0, 140)}: ${MAX_LINKS_PER_TARGET} at most; revoke one first`)
    : new FramehubError(ErrorCode.TooManyShares, `too many share links on this server: ${MAX_LINKS} at most; try again later`);
}
export const linkRevoked = (): AuthError => new AuthError('token_revoked', 'unauthorized: share link revoked');
export const linkExpired = (): AuthError => new AuthError('token_expired', 'unauthorized: share link expired');
export const usedUp = (maxUses: number): AuthError => new AuthError('token_used_up', `unauthorized: share link used up (max_uses ${maxUses})`);
export const targetGone = (target: string): AuthError => new AuthError('token_revoked', `unauthorized: share link ended: ${target.slice(0, 80)} is gone`);

/** The scope a link of `mode` on stream `target` carries. */
export function shareScope(target: string, mode: ShareMode): string {
  return mode === 'control' ? `control:${target.slice(SESSION_STREAM.length)}` : `view:${target}`;
}

/**
 * The registry of share links and the signer of their tokens. A token is an HS256 JWT whose
 * `jti` names a record here; the record, not the token, is what decides: a link is good while
 * its record exists, is not revoked and has not expired, and a connection counts against its
 * `max_uses`. Records end at their expiry (a timer), when revoked (kept a while, so a revoked
 * link is told as such), or when their target closes (`dropTarget`).
 */
export class ShareLinks implements ShareRegistry {
  readonly #key: Uint8Array;
  readonly #clock: WallClock;
  readonly #links = new Map<string, LinkRecord>();
  readonly #onError: (error: unknown) => void;
  /** Whether the key came from configuration: a random one is named in answers, so a caller knows links die with the process. */
  readonly ephemeral: boolean;

  constructor(options: ShareLinksOptions = {}) {
    this.ephemeral = !options.secret;
    this.#key = options.secret ? new TextEncoder().encode(options.secret) : new Uint8Array(randomBytes(32));
    this.#clock = options.clock ?? wallClock;
    this.#onError = options.onError ?? (() => {});
  }

  /** Whether `token` says it is a share link (its protected header's `typ`); nothing is verified yet. */
  static claims(token: string | undefined): boolean {
    if (!token || token.length > 8192) return false;
    try {
      return decodeProtectedHeader(token).typ === SHARE_TOKEN_TYPE;
    } catch {
      return false;
    }
  }

  /** A new link on `target` and its token. Throws `too_many_shares` past the caps. */
  async create(target: string, mode: ShareMode, ttlSeconds: number, maxUses: number | undefined): Promise<{ link: ShareLinkInfo; token: string }> {
    const live = [...this.#links.values()].filter((record) => !record.revoked);
    if (live.filter((record) => record.target === target).length >= MAX_LINKS_PER_TARGET) {
      throw shareRefusal('target', target);
    }
    if (this.#links.size >= MAX_LINKS) throw shareRefusal('all', target);
    const id = randomBytes(12).toString('base64url');
    const now = this.#clock.now();
    const record: LinkRecord = {
      id, target, mode, scope: shareScope(target, mode), createdAt: now, expiresAt: now + ttlSeconds * 1000, maxUses, uses: 0, revoked: false, watchers: new Set(), expiry: undefined,
    };
    // Held before the signing's await, so creates racing each other all count against the caps.
    this.#links.set(id, record);
    record.expiry = this.#clock.setTimeout(() => this.#end(record, linkExpired()), ttlSeconds * 1000);
    try {
      const token = await signShareToken(this.#key, record);
      return { link: linkInfo(record), token };
    } catch (error) {
      this.#drop(record);
      throw error;
    }
  }

  /** The links on `target`, oldest first. */
  list(target: string): ShareLinkInfo[] {
    return [...this.#links.values()].filter((record) => record.target === target).map(linkInfo);
  }

  /**
   * Revokes link `id` of `target`: every connection made with it is ended and its token is
   * refused from now on (`token_revoked`). `undefined` when `target` has no such link. The
   * record stays until it would have expired, so a later use is told it was revoked; past
   * MAX_LINKS_PER_TARGET revoked records the oldest goes (its token is then an unknown link).
   */
  revoke(target: string, id: string): ShareLinkInfo | undefined {
    const record = this.#links.get(id);
    if (!record || record.target !== target) return undefined;
    if (!record.revoked) {
      record.revoked = true;
      this.#notify(record, linkRevoked());
      const revoked = [...this.#links.values()].filter((other) => other.target === target && other.revoked);
      for (const old of revoked.slice(0, Math.max(0, revoked.length - MAX_LINKS_PER_TARGET))) this.#drop(old);
    }
    return linkInfo(record);
  }

  /** Ends every link on `target` (its session closed): a new session under the same id must not inherit them. */
  dropTarget(target: string): void {
    const ended = targetGone(target);
    for (const record of [...this.#links.values()]) if (record.target === target) this.#end(record, ended);
  }

  /**
   * The principal of a share-link token: its one scope, no user, no owner. An AuthError for a
   * forged, malformed or expired token (`token_invalid`, `token_expired`), one whose link is
   * unknown here (another process made it, or it ended long ago: `token_invalid`) or revoked
   * (`token_revoked`).
   */
  async verify(token: string): Promise<Principal> {
    const claimed = await verifyShareToken(this.#key, token, this.#clock.now());
    const record = claimed ? this.#links.get(claimed.id) : undefined;
    if (!record || claimed?.scope !== record.scope) throw new AuthError('token_invalid', 'unauthorized: unknown share link (it ended, or another server process made it)');
    this.#check(record);
    return { userId: undefined, all: false, scopes: new Set([record.scope]), share: this.#grant(record) };
  }

  /**
   * Counts one use (a connection) of link `id`; `token_used_up` once `max_uses` are spent,
   * and the link's end reasons as `verify` has them.
   */
  use(id: string): void {
    const record = this.#links.get(id);
    if (!record) throw new AuthError('token_invalid', 'unauthorized: unknown share link (it ended, or another server process made it)');
    this.#check(record);
    if (record.maxUses !== undefined && record.uses >= record.maxUses) throw usedUp(record.maxUses);
    record.uses++;
  }

  /** Clears every timer (the server is closing); watchers are not called. */
  close(): void {
    for (const record of this.#links.values()) if (record.expiry !== undefined) this.#clock.clearTimeout(record.expiry);
    this.#links.clear();
  }

  #check(record: LinkRecord): void {
    if (record.revoked) throw linkRevoked();
    if (record.expiresAt <= this.#clock.now()) throw linkExpired();
  }

  #grant(record: LinkRecord): ShareGrant {
    return shareGrant(
      record.id,
      // Ended between the check and now (a revoke on another request).
      () => (this.#links.get(record.id) !== record || record.revoked ? (record.revoked ? linkRevoked() : linkExpired()) : undefined),
      (once) => {
        record.watchers.add(once);
        return () => record.watchers.delete(once);
      },
    );
  }

  #end(record: LinkRecord, error: AuthError): void {
    this.#drop(record);
    this.#notify(record, error);
  }

  /** Tells every connection made with `record` that it ended; one that throws does not stop the others. */
  #notify(record: LinkRecord, error: AuthError): void {
    const watchers = [...record.watchers];
    record.watchers.clear();
    for (const watcher of watchers) {
      try {
        watcher(error);
      } catch (thrown) {
        this.#onError(thrown);
      }
    }
  }

  #drop(record: LinkRecord): void {
    if (record.expiry !== undefined) this.#clock.clearTimeout(record.expiry);
    record.expiry = undefined;
    if (this.#links.get(record.id) === record) this.#links.delete(record.id);
  }
}

/**
 * A link's grant: `watch(onEnd)` calls `onEnd` at most once. When `ended()` says the link ended
 * already (between the check and the watch), after the caller has set up; otherwise `add`
 * registers it with the registry and returns what takes it out again.
 */
export function shareGrant(id: string, ended: () => AuthError | undefined, add: (once: (error: AuthError) => void) => () => void): ShareGrant {
  return {
    id,
    watch: (onEnd) => {
      let called = false;
      const once = (error: AuthError) => {
        if (called) return;
        called = true;
        onEnd(error);
      };
      const error = ended();
      if (error) {
        queueMicrotask(() => once(error));
        return () => { called = true; };
      }
      const remove = add(once);
      return () => {
        called = true;
        remove();
      };
    },
  };
}

/** A link's token: HS256, `typ` SHARE_TOKEN_TYPE, `jti` its id, `scope` its one scope. */
export function signShareToken(key: Uint8Array, record: { id: string; scope: string; createdAt: number; expiresAt: number }): Promise<string> {
  return new SignJWT({ scope: record.scope })
    .setProtectedHeader({ alg: 'HS256', typ: SHARE_TOKEN_TYPE })
    .setJti(record.id)
    .setAudience(AUDIENCE)
    .setIssuedAt(Math.floor(record.createdAt / 1000))
    // Whole seconds, rounded up: the record's own expiry (to the ms) is what the registry enforces.
    .setExpirationTime(Math.ceil(record.expiresAt / 1000))
    .sign(key);
}

/**
 * The link id (`jti`) and scope a share token names once its signature, audience and expiry
 * hold at `now`; an AuthError otherwise. `undefined` when it names no string id.
 */
export async function verifyShareToken(key: Uint8Array, token: string, now: number): Promise<{ id: string; scope: unknown } | undefined> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      typ: SHARE_TOKEN_TYPE,
      audience: AUDIENCE,
      requiredClaims: ['exp', 'jti'],
      currentDate: new Date(now),
    }));
  } catch (error) {
    const refusal = authErrorFrom(error);
    // The same sentence whether jose or the registry saw it first.
    if (refusal.code === 'token_expired') throw new AuthError('token_expired', 'unauthorized: share link expired', { cause: error });
    throw refusal;
  }
  return typeof payload.jti === 'string' ? { id: payload.jti, scope: payload['scope'] } : undefined;
}

/** A link as answers show it. */
export function linkInfo(record: ShareRecord): ShareLinkInfo {
  return {
    id: record.id,
    target: record.target,
    mode: record.mode,
    scope: record.scope,
    created_at: Math.floor(record.createdAt / 1000),
    expires_at: Math.floor(record.expiresAt / 1000),
    max_uses: record.maxUses ?? null,
    uses: record.uses,
    revoked: record.revoked,
  };
}
