import { TypedEmitter } from '../util/typed-emitter.js';
import type { ClusterNode } from './cluster-node.js';
import type { RedisClient } from './redis-connection.js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeInfo } from './cluster-node.js';
import { CLUSTER_SECRET_KEY, SESSION_CAPS_ALL_KEY, SESSIONS_CHANNEL, sessionCapsIpKey, sessionCapsOwnerKey, sessionKey } from './keys.js';

/** Where a browser session run by another node lives, and whose it is. */
export interface SessionPlace {
  /** The node running its Chromium. */
  node: string;
  /** That node's address, from its heartbeat (`null` until it listens). */
  url: string | null;
  owner?: string;
}

/** What nodes tell each other on SESSIONS_CHANNEL between heartbeats. */
type SessionNotice =
  | { event: 'opened'; id: string; node: string; url: string | null; owner?: string }
  | { event: 'closed'; id: string; node: string; reason: string }
  /** A node started following the session's frames: its node starts publishing them at once. */
  | { event: 'watched'; id: string };

export interface SessionDirectoryEvents {
  /** A session of another node ended (closed there, or its node is gone): `why` is for its viewers. */
  'session:gone': { id: string; why: string };
  /** Another node follows `id`'s frames now. */
  'session:watched': { id: string };
  /** The node list as just read (every refresh, about every second): every live node, this one too. */
  'nodes': readonly NodeInfo[];
}

export interface SessionDirectoryOptions {
  redis: RedisClient;
  subscriber: RedisClient;
  node: ClusterNode;
  /** How often the claims are renewed and the node list read again. @default 1000 */
  refreshMs?: number;
  /** How long a claim outlives its node's last renewal: how long a dead node's session ids stay taken. @default 5000 */
  claimTtlMs?: number;
}

/** A session about to start on this node: what its reservation is counted under. */
export interface SessionClaim {
  id: string;
  /** The client address the create came from (the per-address cap). */
  ip: string;
  /** Whose it is (the per-owner cap); unset on an open server. */
  owner?: string;
}

/** The caps a reservation must fit under, every node's sessions counted: overall, per address, per owner (0 = none). */
export interface SessionCaps {
  total: number;
  ip: number;
  owner: number;
}

/** What a claim came to: the id and a place taken, or which of them another session holds. */
export type ClaimResult = 'ok' | 'exists' | 'total' | 'ip' | 'owner';

// The claim key, then the cap sets it is counted in (session-caps: all, the address's, the
// owner's if any): KEYS[1], KEYS[2..]. Times are Redis's (TIME), so the nodes' clocks do not matter.
const NOW = "local t = redis.call('time') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";
/**
 * Takes the id and a place under every cap in one step: a create on another node runs before or
 * after this, never between the count and the add. Expired reservations (a dead node's) are
 * dropped before counting. ARGV: node, ttl ms, cap overall, per address, per owner (0 = none), id.
 */
const RESERVE = `if redis.call('exists', KEYS[1]) == 1 then return 'exists' end ${NOW}
for i = 2, #KEYS do redis.call('zremrangebyscore', KEYS[i], '-inf', now) end
if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[3]) then return 'total' end
if redis.call('zcard', KEYS[3]) >= tonumber(ARGV[4]) then return 'ip' end
if KEYS[4] and tonumber(ARGV[5]) > 0 and redis.call('zcard', KEYS[4]) >= tonumber(ARGV[5]) then return 'owner' end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do redis.call('zadd', KEYS[i], now + tonumber(ARGV[2]), ARGV[6]) redis.call('pexpire', KEYS[i], ARGV[2]) end
return 'ok'`;
// Renew and release only claims no other node holds (as stream-lease.ts does for leases), with
// their places under the caps. A claim that lapsed meanwhile (this node stalled past the TTL, or
// Redis restarted empty) is taken again: the session still runs here and must be counted, even
// if that puts the cluster past a cap for a while. A set's own TTL is pushed to the latest
// renewal: every score in it is earlier, so an empty set goes away by itself.
// ARGV: node, ttl ms, id (RENEW); node, id (RELEASE).
const RENEW = `local holder = redis.call('get', KEYS[1]) if holder and holder ~= ARGV[1] then return 0 end ${NOW}
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do redis.call('zadd', KEYS[i], now + tonumber(ARGV[2]), ARGV[3]) redis.call('pexpire', KEYS[i], ARGV[2]) end
return 1`;
const RELEASE = `if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
for i = 2, #KEYS do redis.call('zrem', KEYS[i], ARGV[2]) end
return 1`;

/** The keys a claim's scripts touch: its id's claim, then the cap sets it counts in. */
function claimKeys(claim: SessionClaim): string[] {
  return [sessionKey(claim.id), SESSION_CAPS_ALL_KEY, sessionCapsIpKey(claim.ip), ...(claim.owner === undefined ? [] : [sessionCapsOwnerKey(claim.owner)])];
}

/**
 * Every node's browser sessions as this node knows them: which node runs each (from the node
 * heartbeats, read every second, and the `opened`/`closed` notices between them) and the claim
 * on each id, a Redis key with a TTL that its node renews, so one id names one session in the
 * whole cluster and a dead node's ids come free when its claims expire. A claim is also the
 * session's place under the session caps (overall, per address, per owner), counted in Redis
 * over every node and taken in the same step as the id, so the caps hold across the cluster.
 *
 * Lookups are synchronous (the hub resolves stream ids synchronously): they read the last
 * snapshot, which is at most `refreshMs` old, or current through the notices.
 */
export class SessionDirectory extends TypedEmitter<SessionDirectoryEvents> {
  readonly #options: Required<Pick<SessionDirectoryOptions, 'refreshMs' | 'claimTtlMs'>> & SessionDirectoryOptions;
  /** Sessions of other nodes. */
  #places = new Map<string, SessionPlace>();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshedAt = 0;
  /** Ids this node claimed and has not released, with what they are counted under: renewed on every refresh. */
  readonly #claimed = new Map<string, SessionClaim>();
  /** The node list as last read. */
  #nodes: NodeInfo[] = [];
  /**
   * Sessions announced closed, with the node that ran them, until a heartbeat read after the
   * notice: a heartbeat written just before the close would otherwise bring them back for a second.
   */
  readonly #closed = new Map<string, string>();
  /** The cluster's shared secret (read at start): what makes a forwarded call's client address trustworthy. */
  #secret = '';
  /** Releases under way, awaited by stop() so that a clean stop tells the other nodes before it leaves. */
  readonly #releasing = new Set<Promise<void>>();

  constructor(options: SessionDirectoryOptions) {
    super();
    this.#options = { refreshMs: 1000, claimTtlMs: 5000, ...options };
  }

  get nodeId(): string {
    return this.#options.node.id;
  }

  async start(): Promise<void> {
    await this.#options.redis.set(CLUSTER_SECRET_KEY, randomBytes(24).toString('base64url'), { condition: 'NX' });
    this.#secret = (await this.#options.redis.get(CLUSTER_SECRET_KEY)) ?? '';
    await this.#options.subscriber.subscribe(SESSIONS_CHANNEL, this.#subscriberOnNotice);
    await this.refresh();
    this.#timer ??= setInterval(this.#tick, this.#options.refreshMs).unref();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#releasing);
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#options.subscriber.isReady) await this.#options.subscriber.unsubscribe(SESSIONS_CHANNEL, this.#subscriberOnNotice).catch(() => undefined);
  }

  /** The node running session `id` when it is another node (the snapshot; never waits). */
  place(id: string): SessionPlace | undefined {
    return this.#places.get(id);
  }

  /** The cluster's secret, sent with every forwarded call (session-forward.ts). */
  get secret(): string {
    return this.#secret;
  }

  /** Whether `value` is the cluster's secret (compared in constant time). */
  isSecret(value: unknown): boolean {
    if (typeof value !== 'string' || this.#secret === '') return false;
    const a = Buffer.from(value);
    const b = Buffer.from(this.#secret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * The node a new session should go to: the one running the fewest sessions, the least busy
   * CPU among those (this node when it runs no more than any); `undefined` for this node.
   */
  roomiest(localSessions: number): { node: string; url: string } | undefined {
    let best: { node: string; url: string; sessions: number; cpu: number } | undefined;
    for (const node of this.#nodes) {
      if (node.id === this.nodeId || !node.url) continue;
      const candidate = { node: node.id, url: node.url, sessions: node.sessions.length, cpu: node.cpu };
      if (!best || candidate.sessions < best.sessions || (candidate.sessions === best.sessions && candidate.cpu < best.cpu)) best = candidate;
    }
    // This node keeps a session unless another runs fewer: a forwarded create costs a hop, and
    // CPU shares measured a second ago are too noisy to move a session between equals for.
    if (!best || localSessions <= best.sessions) return undefined;
    return { node: best.node, url: best.url };
  }

  /**
   * Whether this node holds the claim on `id`. The node report lists only these: a session still
   * waiting for its claim (which another node may hold) must not look like a second place of that id.
   */
  holds(id: string): boolean {
    return this.#claimed.has(id);
  }

  /**
   * Every other node (the snapshot), with the sessions it runs: where a cluster-wide session
   * list asks, and what it says of a node that does not answer. A node known only from an
   * `opened` notice (it joined under a second ago) is there too, with the address it announced.
   */
  others(): { node: string; url: string | null; sessions: { id: string; owner?: string }[] }[] {
    const nodes = new Map<string, { node: string; url: string | null; sessions: { id: string; owner?: string }[] }>();
    for (const node of this.#nodes) if (node.id !== this.nodeId) nodes.set(node.id, { node: node.id, url: node.url, sessions: [] });
    for (const [id, place] of this.#places) {
      let entry = nodes.get(place.node);
      if (!entry) nodes.set(place.node, (entry = { node: place.node, url: place.url, sessions: [] }));
      entry.sessions.push({ id, ...(place.owner !== undefined && { owner: place.owner }) });
    }
    return [...nodes.values()];
  }

  /** As `place`, reading the node list again on a miss: for a request that arrived just after the session was made elsewhere. */
  async lookup(id: string): Promise<SessionPlace | undefined> {
    const known = this.#places.get(id);
    // A client asking for unknown ids does not get one node-list read each: at most one every 250 ms.
    if (known || Date.now() - this.#refreshedAt < 250) return known;
    await this.refresh().catch(() => undefined);
    return this.#places.get(id);
  }

  /**
   * Takes `claim.id` and a place under `caps` for a session about to start here, counting every
   * node's sessions; what refused it otherwise (`exists`: another node's session has the id).
   * Tells the other nodes at once.
   */
  async claim(claim: SessionClaim, caps: SessionCaps): Promise<ClaimResult> {
    const result = await this.#options.redis.eval(RESERVE, {
      keys: claimKeys(claim),
      arguments: [this.nodeId, String(this.#options.claimTtlMs), String(caps.total), String(caps.ip), String(caps.owner), claim.id],
    });
    if (result !== 'ok') return result as ClaimResult;
    this.#claimed.set(claim.id, claim);
    void this.#notify({ event: 'opened', id: claim.id, node: this.nodeId, url: this.#url(), ...(claim.owner !== undefined && { owner: claim.owner }) });
    return 'ok';
  }

  /** Gives `id` up (its session closed here) and tells the other nodes' viewers why; nothing when the claim was not ours. */
  release(id: string, reason: string): Promise<void> {
    const claim = this.#claimed.get(id);
    // Not renewed from now on: if Redis is away, the claim and its places expire by themselves.
    if (!claim) return Promise.resolve();
    this.#claimed.delete(id);
    const releasing = (async () => {
      const released = await this.#options.redis.eval(RELEASE, { keys: claimKeys(claim), arguments: [this.nodeId, id] });
      if (released === 1) await this.#notify({ event: 'closed', id, node: this.nodeId, reason });
    })();
    const tracked = releasing.catch(() => undefined).finally(() => this.#releasing.delete(tracked));
    this.#releasing.add(tracked);
    return releasing;
  }

  /** Asks the node running `id` to publish its frames now (it also notices within a second by itself). */
  watch(id: string): void {
    void this.#notify({ event: 'watched', id });
  }

  /** Renews this node's claims and reads every node's sessions; one at a time. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    this.#refreshedAt = Date.now();
    const closedBefore = new Map(this.#closed);
    // One script a claim (node-redis sends them in one write): each names its own cap sets.
    const ttl = String(this.#options.claimTtlMs);
    await Promise.all([...this.#claimed.values()].map((claim) => this.#options.redis.eval(RENEW, { keys: claimKeys(claim), arguments: [this.nodeId, ttl, claim.id] })));
    const nodes = await this.#options.node.nodes();
    this.#nodes = nodes;
    const places = new Map<string, SessionPlace>();
    for (const node of nodes) {
      if (node.id === this.nodeId) continue;
      for (const id of node.sessions) {
        if (this.#closed.get(id) === node.id) continue;
        // Two nodes naming one id (a heartbeat older than a claim's move): the place known already stays.
        if (places.has(id) && this.#places.get(id)?.node !== node.id) continue;
        const owner = node.sessionOwners?.[id];
        places.set(id, { node: node.id, url: node.url, ...(owner !== undefined && { owner }) });
      }
    }
    // A session announced after the heartbeat that was read stays until a heartbeat lists it, its
    // node is gone, or a few heartbeats have passed without it (a create that failed there).
    const alive = new Set(nodes.map((node) => node.id));
    const now = Date.now();
    for (const [id, announcedAt] of this.#fresh) {
      const place = this.#places.get(id);
      if (places.get(id)?.node === place?.node || !place || !alive.has(place.node) || now - announcedAt > 5 * this.#options.refreshMs) this.#fresh.delete(id);
      else if (!places.has(id)) places.set(id, place);
    }
    // Heartbeats read from now on were written after these notices.
    for (const [id, node] of closedBefore) if (this.#closed.get(id) === node) this.#closed.delete(id);
    const before = this.#places;
    this.#places = places;
    for (const [id, place] of before) {
      if (places.get(id)?.node === place.node) continue;
      const why = alive.has(place.node)
        ? `session ${id} has ended`
        : `session ${id} has ended: node ${place.node}, which ran its browser, stopped answering (its Chromium is gone)`;
      this.emit('session:gone', { id, why });
    }
    this.emit('nodes', nodes);
  }

  /** Ids announced (with when) and not yet listed by their node's heartbeat, which may predate them. */
  readonly #fresh = new Map<string, number>();

  readonly #tick = (): void => {
    // Redis away: the next tick tries again; the snapshot stays as it was.
    this.refresh().catch(() => undefined);
  };

  #url(): string | null {
    return this.#options.node.url;
  }

  #notify(notice: SessionNotice): Promise<void> {
    // Best effort: the heartbeats say the same within a second.
    return this.#options.redis.publish(SESSIONS_CHANNEL, JSON.stringify(notice)).then(() => undefined, () => undefined);
  }

  readonly #subscriberOnNotice = (message: string): void => {
    let notice: SessionNotice;
    try {
      notice = JSON.parse(message) as SessionNotice;
    } catch {
      return;
    }
    if (typeof notice !== 'object' || notice === null || typeof notice.id !== 'string') return;
    if (notice.event === 'watched') {
      this.emit('session:watched', { id: notice.id });
      return;
    }
    if (typeof notice.node !== 'string' || notice.node === this.nodeId) return;
    if (notice.event === 'opened') {
      this.#closed.delete(notice.id);
      this.#places.set(notice.id, { node: notice.node, url: typeof notice.url === 'string' ? notice.url : null, ...(typeof notice.owner === 'string' && { owner: notice.owner }) });
      this.#fresh.set(notice.id, Date.now());
    } else if (notice.event === 'closed' && this.#places.get(notice.id)?.node === notice.node) {
      this.#places.delete(notice.id);
      this.#fresh.delete(notice.id);
      this.#closed.set(notice.id, notice.node);
      this.emit('session:gone', { id: notice.id, why: `session ${notice.id} has ended (${String(notice.reason).slice(0, 200)})` });
    }
  };
}
