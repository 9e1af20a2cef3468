import { randomBytes } from 'node:crypto';
import { AuthError, type Principal, type ShareGrant } from './auth.js';
import {
  MAX_LINKS, MAX_LINKS_PER_TARGET, MAX_SHARE_USES, linkExpired, linkInfo, shareGrant, linkRevoked, shareRefusal, shareScope, signShareToken, targetGone, usedUp, verifyShareToken,
  type ShareLinkInfo, type ShareMode, type ShareRecord, type ShareRegistry, type WallClock,
} from './share-links.js';
import { SHARES_ALL_KEY, SHARES_CHANNEL, SHARE_SECRET_KEY, shareKey, sharesTargetKey } from '../cluster/keys.js';
import type { RedisClient } from '../cluster/redis-connection.js';

/** How often a node asks Redis whether the links its connections were admitted with still hold: the bound on a revocation whose notice was lost (Redis away). */
const CHECK_MS = 1_000;
/** Ended links remembered (by id) for a connection that starts watching one just after its notice. */
const ENDED_KEPT = 1_024;
/** Longest target a record may name (a stream id, `session:<id>`): anything longer is not one framehub wrote. */
const MAX_TARGET = 4_096;
const UNKNOWN = 'unauthorized: unknown share link (it ended, or it was made with another secret)';

// Times are the nodes' wall clocks (ms), as a single node's registry and the token's `exp` are;
// the records' keys expire at their link's expiry (PEXPIREAT, Redis's clock).
/**
 * Takes a place under both caps and writes the link, in one step: a create on another node runs
 * before or after it, never between the count and the write. Lapsed members (expired links, or
 * records gone) are dropped first. KEYS: link, target set, all set. ARGV: now, id, target,
 * mode, scope, created, expires, max uses ('' = none), cap per target, cap overall, longest ttl ms.
 */
const CREATE = `local now = tonumber(ARGV[1])
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
redis.call('zremrangebyscore', KEYS[3], '-inf', now)
local live = 0
for _, id in ipairs(redis.call('zrange', KEYS[2], 0, -1)) do
  local revoked = redis.pcall('hget', '${shareKey('')}' .. id, 'revoked')
  if type(revoked) ~= 'string' then redis.call('zrem', KEYS[2], id) redis.call('zrem', KEYS[3], id)
  elseif revoked ~= '1' then live = live + 1 end
end
if live >= tonumber(ARGV[9]) then return 'target' end
if redis.call('zcard', KEYS[3]) >= tonumber(ARGV[10]) then return 'all' end
redis.call('hset', KEYS[1], 'target', ARGV[3], 'mode', ARGV[4], 'scope', ARGV[5], 'created', ARGV[6], 'expires', ARGV[7], 'max', ARGV[8], 'uses', 0, 'revoked', 0)
redis.call('pexpireat', KEYS[1], ARGV[7])
redis.call('zadd', KEYS[2], ARGV[7], ARGV[2])
redis.call('zadd', KEYS[3], ARGV[7], ARGV[2])
redis.call('pexpire', KEYS[2], ARGV[11])
redis.call('pexpire', KEYS[3], ARGV[11])
return 'ok'`;

/**
 * Counts one use, or says why not, in one step: two nodes admitting the last use run one after
 * the other, and the second finds it spent. KEYS: link. ARGV: now.
 */
const USE = `local r = redis.pcall('hmget', KEYS[1], 'revoked', 'expires', 'max', 'uses')
if r.err or r[1] == false then return 'unknown' end
if r[1] == '1' then return 'revoked' end
if tonumber(r[2]) == nil or tonumber(r[2]) <= tonumber(ARGV[1]) then return 'expired' end
if r[3] ~= '' and (tonumber(r[3]) == nil or tonumber(r[4]) == nil or tonumber(r[4]) >= tonumber(r[3])) then return 'used_up' end
redis.call('hincrby', KEYS[1], 'uses', 1)
return 'ok'`;

/**
 * Marks the link revoked and tells every node (the notice goes out with the revocation, so no
 * node can admit with it after hearing of it), then drops the oldest revoked records of the
 * target past its cap, as a single node does. KEYS: link, target set, all set. ARGV: target,
 * id, notice, revoked records kept. Answers 0 (no such link of that target), 1 (revoked now), 2 (already).
 */
const REVOKE = `if redis.pcall('hget', KEYS[1], 'target') ~= ARGV[1] then return 0 end
if redis.call('hget', KEYS[1], 'revoked') == '1' then return 2 end
redis.call('hset', KEYS[1], 'revoked', 1)
redis.call('publish', '${SHARES_CHANNEL}', ARGV[3])
local revoked = {}
for _, id in ipairs(redis.call('zrange', KEYS[2], 0, -1)) do
  local r = redis.pcall('hmget', '${shareKey('')}' .. id, 'revoked', 'created')
  if not r.err and r[1] == '1' then table.insert(revoked, { id, tonumber(r[2]) or 0 }) end
end
table.sort(revoked, function(a, b) return a[2] < b[2] end)
for i = 1, #revoked - tonumber(ARGV[4]) do
  redis.call('del', '${shareKey('')}' .. revoked[i][1])
  redis.call('zrem', KEYS[2], revoked[i][1])
  redis.call('zrem', KEYS[3], revoked[i][1])
end
return 1`;

/** Deletes every link of a target and tells every node. KEYS: target set, all set. ARGV: notice. */
const DROP = `local ids = redis.call('zrange', KEYS[1], 0, -1)
for _, id in ipairs(ids) do redis.call('del', '${shareKey('')}' .. id) redis.call('zrem', KEYS[2], id) end
redis.call('del', KEYS[1])
if #ids > 0 then redis.call('publish', '${SHARES_CHANNEL}', ARGV[1]) end
return #ids`;

/** What nodes tell each other on SHARES_CHANNEL. */
type ShareNotice = { event: 'revoked'; id: string } | { event: 'dropped'; target: string; ids: string[] };

/** A link as read from Redis, checked. */
type StoredLink = ShareRecord;

/** The connections one link admitted on this node, and the timer that ends them at its expiry. */
interface Watched {
  watchers: Set<(error: AuthError) => void>;
  expiry: ReturnType<WallClock['setTimeout']> | undefined;
}

export interface ClusterShareLinksOptions {
  redis: RedisClient;
  subscriber: RedisClient;
  /** JWT_SECRET or SHARE_SECRET; unset = the cluster's own (`framehub:share-secret`, made by the first node). */
  secret?: string;
  clock?: WallClock;
  onError?: (error: unknown) => void;
}

/**
 * The share links of a cluster, in Redis: a link made on any node admits on every node,
 * `max_uses` is counted once over all of them (a script: two nodes cannot both admit the last
 * use), a revocation on any node ends the link everywhere (a pub/sub notice sent by the same
 * script, and every second each node asks again about the links its connections hold, in case
 * a notice was lost while Redis was away), and the caps count every node's links.
 *
 * Every record read back is checked field by field: a record framehub did not write is an
 * unknown link (`token_invalid`), never a crash.
 */
export class ClusterShareLinks implements ShareRegistry {
  readonly #redis: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #clock: WallClock;
  readonly #onError: (error: unknown) => void;
  readonly #watched = new Map<string, Watched>();
  /** Links this node heard ended (id → why), newest last, at most ENDED_KEPT. */
  readonly #ended = new Map<string, AuthError>();
  #key: Uint8Array = new Uint8Array();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(private readonly options: ClusterShareLinksOptions) {
    this.#redis = options.redis;
    this.#subscriber = options.subscriber;
    this.#clock = options.clock ?? { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Reads the signing key (the configured secret, else the cluster's: a random one set by the
   * first node, so a token signed on one node verifies on every other) and starts listening.
   * Rejects when the cluster's key in Redis is not one framehub made.
   */
  async start(): Promise<void> {
    if (this.options.secret) {
      this.#key = new TextEncoder().encode(this.options.secret);
    } else {
      await this.#redis.set(SHARE_SECRET_KEY, randomBytes(32).toString('base64url'), { condition: 'NX' });
      const stored = await this.#redis.get(SHARE_SECRET_KEY);
      if (typeof stored !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(stored)) {
        throw new Error(`${SHARE_SECRET_KEY} in Redis is not a key framehub made (43 base64url characters): delete it, or set SHARE_SECRET`);
      }
      this.#key = new TextEncoder().encode(stored);
    }
    await this.#subscriber.subscribe(SHARES_CHANNEL, this.#subscriberOnNotice);
    this.#timer ??= setInterval(this.#tick, CHECK_MS).unref();
  }

  async create(target: string, mode: ShareMode, ttlSeconds: number, maxUses: number | undefined): Promise<{ link: ShareLinkInfo; token: string }> {
    const id = randomBytes(12).toString('base64url');
    const now = this.#clock.now();
    const record: StoredLink = { id, target, mode, scope: shareScope(target, mode), createdAt: now, expiresAt: now + ttlSeconds * 1000, maxUses, uses: 0, revoked: false };
    const token = await signShareToken(this.#key, record);
    const answer = await this.#redis.eval(CREATE, {
      keys: [shareKey(id), sharesTargetKey(target), SHARES_ALL_KEY],
      arguments: [String(now), id, target, mode, record.scope, String(record.createdAt), String(record.expiresAt), maxUses === undefined ? '' : String(maxUses),
        String(MAX_LINKS_PER_TARGET), String(MAX_LINKS), String(7 * 86_400_000)],
    });
    if (answer === 'target' || answer === 'all') throw shareRefusal(answer, target);
    if (answer !== 'ok') throw new Error(`share link create: unexpected answer from Redis (${typeof answer})`);
    return { link: linkInfo(record), token };
  }

  async list(target: string): Promise<ShareLinkInfo[]> {
    const now = this.#clock.now();
    const ids = await this.#redis.zRangeByScore(sharesTargetKey(target), `(${now}`, '+inf');
    const records = await Promise.all(ids.slice(0, 2 * MAX_LINKS_PER_TARGET + 1).map((id) => this.#read(id)));
    return records
      .filter((record): record is StoredLink => record !== undefined && record.target === target && record.expiresAt > now)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .map(linkInfo);
  }

  async revoke(target: string, id: string): Promise<ShareLinkInfo | undefined> {
    if (!validId(id)) return undefined;
    const notice: ShareNotice = { event: 'revoked', id };
    const answer = await this.#redis.eval(REVOKE, {
      keys: [shareKey(id), sharesTargetKey(target), SHARES_ALL_KEY],
      arguments: [target, id, JSON.stringify(notice), String(MAX_LINKS_PER_TARGET)],
    });
    if (answer === 0) return undefined;
    // This node's own connections end at once, not when the notice comes back.
    this.#endLink(id, linkRevoked());
    const record = await this.#read(id);
    // Dropped at once past the revoked records' cap: still answered as revoked.
    return record ? linkInfo(record) : undefined;
  }

  async dropTarget(target: string): Promise<void> {
    const ids = await this.#redis.zRange(sharesTargetKey(target), 0, -1);
    const notice: ShareNotice = { event: 'dropped', target, ids: ids.filter(validId) };
    await this.#redis.eval(DROP, { keys: [sharesTargetKey(target), SHARES_ALL_KEY], arguments: [JSON.stringify(notice)] });
    for (const id of notice.ids) this.#endLink(id, targetGone(target));
  }

  async verify(token: string): Promise<Principal> {
    const claimed = await verifyShareToken(this.#key, token, this.#clock.now());
    const record = claimed && validId(claimed.id) ? await unavailableIfFails(this.#read(claimed.id)) : undefined;
    if (!record || claimed?.scope !== record.scope) throw new AuthError('token_invalid', UNKNOWN);
    if (record.revoked) throw linkRevoked();
    if (record.expiresAt <= this.#clock.now()) throw linkExpired();
    return { userId: undefined, all: false, scopes: new Set([record.scope]), share: this.#grant(record) };
  }

  async use(id: string): Promise<void> {
    const answer = validId(id) ? await unavailableIfFails(this.#redis.eval(USE, { keys: [shareKey(id)], arguments: [String(this.#clock.now())] })) : 'unknown';
    if (answer === 'ok') return;
    if (answer === 'revoked') throw linkRevoked();
    if (answer === 'expired') throw linkExpired();
    if (answer === 'used_up') {
      const record = await this.#read(id).catch(() => undefined);
      throw usedUp(record?.maxUses ?? 0);
    }
    throw new AuthError('token_invalid', UNKNOWN);
  }

  /** Stops listening and clears every timer; watchers are not called. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const watched of this.#watched.values()) if (watched.expiry !== undefined) this.#clock.clearTimeout(watched.expiry);
    this.#watched.clear();
    if (this.#subscriber.isReady) await this.#subscriber.unsubscribe(SHARES_CHANNEL, this.#subscriberOnNotice).catch(() => undefined);
  }

  /** Link `id` as Redis holds it, checked; `undefined` when there is none or it is not a record framehub wrote. */
  async #read(id: string): Promise<StoredLink | undefined> {
    let fields: Record<string, string>;
    try {
      fields = await this.#redis.hGetAll(shareKey(id));
    } catch (error) {
      // A key of another type under a link's name is not a link; Redis away is an error of its own.
      if (/WRONGTYPE/.test((error as Error).message)) return undefined;
      throw error;
    }
    return parseLink(id, fields);
  }

  #grant(record: StoredLink): ShareGrant {
    return shareGrant(
      record.id,
      // Heard ended between the check and now.
      () => this.#ended.get(record.id),
      (once) => {
        let watched = this.#watched.get(record.id);
        if (!watched) {
          watched = { watchers: new Set(), expiry: undefined };
          this.#watched.set(record.id, watched);
          const left = Math.min(Math.max(0, record.expiresAt - this.#clock.now()), 2 ** 31 - 1);
          watched.expiry = this.#clock.setTimeout(() => this.#endLink(record.id, linkExpired()), left);
        }
        watched.watchers.add(once);
        return () => {
          const current = this.#watched.get(record.id);
          if (!current) return;
          current.watchers.delete(once);
          if (current.watchers.size === 0) this.#forget(record.id);
        };
      },
    );
  }

  /** Tells every connection of this node admitted with `id` that it ended; one that throws does not stop the others. */
  #endLink(id: string, error: AuthError): void {
    this.#ended.delete(id);
    this.#ended.set(id, error);
    if (this.#ended.size > ENDED_KEPT) this.#ended.delete(this.#ended.keys().next().value!);
    const watched = this.#watched.get(id);
    if (!watched) return;
    this.#forget(id);
    for (const watcher of [...watched.watchers]) {
      try {
        watcher(error);
      } catch (thrown) {
        this.#onError(thrown);
      }
    }
  }

  #forget(id: string): void {
    const watched = this.#watched.get(id);
    if (watched?.expiry !== undefined) this.#clock.clearTimeout(watched.expiry);
    this.#watched.delete(id);
  }

  /** Asks Redis about every link this node's connections hold: a notice lost while Redis was away still ends them. */
  readonly #tick = (): void => {
    if (this.#checking || this.#watched.size === 0) return;
    this.#checking = true;
    const ids = [...this.#watched.keys()];
    Promise.all(ids.map(async (id) => {
      const [revoked, expires] = await this.#redis.hmGet(shareKey(id), ['revoked', 'expires']);
      if (revoked === null || revoked === undefined) this.#endLink(id, new AuthError('token_revoked', 'unauthorized: share link ended'));
      else if (revoked === '1') this.#endLink(id, linkRevoked());
      else if (Number(expires) <= this.#clock.now()) this.#endLink(id, linkExpired());
    })).catch(() => undefined).finally(() => {
      this.#checking = false;
    });
  };

  readonly #subscriberOnNotice = (message: string): void => {
    let notice: unknown;
    try {
      notice = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof notice !== 'object' || notice === null) return;
    const { event, id, target, ids } = notice as Record<string, unknown>;
    if (event === 'revoked' && validId(id)) this.#endLink(id, linkRevoked());
    else if (event === 'dropped' && typeof target === 'string' && Array.isArray(ids)) {
      for (const dropped of ids.slice(0, 2 * MAX_LINKS_PER_TARGET)) if (validId(dropped)) this.#endLink(dropped, targetGone(target));
    }
  };
}

/**
 * Redis away (or failing): `auth_unavailable` (503, close 1013: try again later), as an
 * unreachable JWKS is, not an internal error and not a refusal of the link.
 */
async function unavailableIfFails<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    throw new AuthError('auth_unavailable', 'unauthorized: share links cannot be checked now (the cluster\'s Redis did not answer); try again later', { cause: error });
  }
}

/** A link id as framehub makes them (12 random bytes, base64url); anything else names no link. */
function validId(id: unknown): id is string {
  return typeof id === 'string' && /^[A-Za-z0-9_-]{16}$/.test(id);
}

function wholeNumber(text: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/** A record read from Redis, every field checked; `undefined` for anything framehub would not have written. */
export function parseLink(id: string, fields: Record<string, string>): StoredLink | undefined {
  const { target, mode, scope, created, expires, max, uses, revoked } = fields;
  if (typeof target !== 'string' || target === '' || target.length > MAX_TARGET) return undefined;
  if (mode !== 'view' && mode !== 'control') return undefined;
  if (scope !== shareScope(target, mode)) return undefined;
  const createdAt = wholeNumber(created);
  const expiresAt = wholeNumber(expires);
  const used = wholeNumber(uses);
  const maxUses = max === '' ? undefined : wholeNumber(max, MAX_SHARE_USES);
  if (createdAt === undefined || expiresAt === undefined || used === undefined || (max !== '' && (maxUses === undefined || maxUses < 1))) return undefined;
  if (revoked !== '0' && revoked !== '1') return undefined;
  return { id, target, mode, scope, createdAt, expiresAt, maxUses, uses: used, revoked: revoked === '1' };
}
