import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { RedisClient } from './redis-connection.js';
import { NODE_KEY_PATTERN, nodeKey, nodeNameKey } from './keys.js';
import { RELEASE } from './stream-lease.js';

/** What a node tells the others about itself, renewed every heartbeat. */
export interface NodeReport {
  /** Share of one core this process used since the previous heartbeat (0-1 per core). */
  cpu: number;
  /** Resident memory, bytes. */
  rss: number;
  /** Viewers connected to this node, over every stream. */
  viewers: number;
  /**
   * Each configured stream this node serves: its local viewers, this node's role for it, and the
   * frames it published to Redis (as owner) and received from Redis (as follower) so far.
   */
  streams: { id: string; viewers: number; role: string; published: number; received: number }[];
  /** Browser sessions running on this node (their Chromium is here). */
  sessions: string[];
  /**
   * The owner of each of those sessions that has one (`user:<sub>`, `token:<hash>`): a session
   * is served only by its own node, which checks it there; every node's view names whose it is.
   */
  sessionOwners: Record<string, string>;
  /**
   * The participants this node's Socket.IO viewers are in sessions other nodes run (their
   * presence ids): the session's node drops one that its node stops listing (it left, or the
   * node died). Absent from a node of an older version.
   */
  participants?: string[];
}

export interface NodeInfo extends NodeReport {
  id: string;
  /** Its name (NODE_NAME; the host name by default): what a configured stream's `node:` names. */
  name: string;
  /** Where this node listens (as it sees itself; behind a proxy, an internal address). */
  url: string | null;
  startedAt: number;
  /** Wall-clock time of this heartbeat. */
  updatedAt: number;
}

export interface ClusterNodeOptions {
  redis: RedisClient;
  /** @default the host name */
  name?: string;
  /** @default 1000 */
  heartbeatMs?: number;
  /** A node that missed this long of heartbeats is gone from the list. @default 5000 */
  ttlMs?: number;
  onError?: (error: Error) => void;
}

/**
 * This process as a member of the cluster: an id, a heartbeat key in Redis with a TTL (so a node
 * killed without a word drops out of the list by itself), and the list of every member.
 */
export class ClusterNode {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly startedAt = Date.now();
  #url: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  #report: (() => Omit<NodeReport, 'cpu' | 'rss'>) | undefined;
  #cpuAt = process.cpuUsage();
  #cpuClock = performance.now();
  readonly #heartbeatMs: number;
  readonly #ttlMs: number;

  readonly name: string;

  constructor(private readonly options: ClusterNodeOptions) {
    this.name = options.name ?? hostname();
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#ttlMs = options.ttlMs ?? 5000;
  }

  /** Announces the node and keeps announcing it, with what `report` says on each heartbeat. */
  async start(report: () => Omit<NodeReport, 'cpu' | 'rss'>): Promise<void> {
    this.#report = report;
    await this.#beat();
    this.#timer ??= setInterval(() => void this.#beat().catch((error: Error) => this.options.onError?.(error)), this.#heartbeatMs).unref();
  }

  /** The address this node announced (`null` until it listens). */
  get url(): string | null {
    return this.#url;
  }

  /** The address the node listens on, once it does; announced at once. */
  setUrl(url: string): void {
    this.#url = url;
    void this.#beat().catch((error: Error) => this.options.onError?.(error));
  }

  /** Stops the heartbeat and leaves the list at once. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.options.redis.isReady) {
      await this.options.redis.del(nodeKey(this.id)).catch(() => undefined);
      // Only if no other node of that name renewed it since.
      await this.options.redis.eval(RELEASE, { keys: [nodeNameKey(this.name)], arguments: [this.id] }).catch(() => undefined);
    }
  }

  /** Every node whose heartbeat has not expired, this one included, oldest first. */
  async nodes(): Promise<NodeInfo[]> {
    const keys: string[] = [];
    for await (const batch of this.options.redis.scanIterator({ MATCH: NODE_KEY_PATTERN, COUNT: 100 })) keys.push(...batch);
    if (keys.length === 0) return [];
    const values = await this.options.redis.mGet(keys);
    const nodes: NodeInfo[] = [];
    for (const value of values) {
      if (value === null) continue; // expired between SCAN and MGET
      try {
        nodes.push(JSON.parse(value) as NodeInfo);
      } catch {
        // Not ours to read; skip it.
      }
    }
    return nodes.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }

  #load(): { cpu: number; rss: number } {
    const now = performance.now();
    const usage = process.cpuUsage(this.#cpuAt);
    const elapsedUs = Math.max(1, (now - this.#cpuClock) * 1000);
    this.#cpuAt = process.cpuUsage();
    this.#cpuClock = now;
    return { cpu: Math.round(((usage.user + usage.system) / elapsedUs) * 1000) / 1000, rss: process.memoryUsage.rss() };
  }

  async #beat(): Promise<void> {
    // A beat still waiting for Redis is not joined by another.
    if (this.#beating || !this.#report) return;
    this.#beating = true;
    try {
      const info: NodeInfo = { id: this.id, name: this.name, url: this.#url, startedAt: this.startedAt, updatedAt: Date.now(), ...this.#load(), ...this.#report() };
      await Promise.all([
        this.options.redis.set(nodeKey(this.id), JSON.stringify(info), { expiration: { type: 'PX', value: this.#ttlMs } }),
        // The name's key says the node is alive to the nodes following its pinned streams (one GET, not a node-list read).
        this.options.redis.set(nodeNameKey(this.name), this.id, { expiration: { type: 'PX', value: this.#ttlMs } }),
      ]);
    } finally {
      this.#beating = false;
    }
  }
}
