import { Source, type SourceEvents, type SourceExit, type SourceFrame } from '../sources/source.js';
import type { RedisClient } from './redis-connection.js';
import { StreamLease } from './stream-lease.js';
import { restartAtOnceThenBackOff } from '../util/reconnect-policy.js';
import { framesChannel, nodeNameKey } from './keys.js';
import { decodeFrameMessage, encodeFrameMessage } from './frame-message.js';

/** `owner`: this node runs the source and publishes its frames; `follower`: it receives them from Redis. */
export type ClusterRole = 'idle' | 'owner' | 'follower';

export interface ClusterSourceOptions {
  streamId: string;
  /** The source as a single node would run it; started only while this node holds the lease. */
  local: Source;
  nodeId: string;
  /** Commands: the lease and PUBLISH. */
  redis: RedisClient;
  /** The node's one subscriber connection, shared by every stream it follows. */
  subscriber: RedisClient;
  /** How long a lease outlives its holder's last renewal: the longest a dead owner keeps its stream. @default 1500 */
  leaseMs?: number;
  /** How often the owner renews and a follower tries to take the lease. @default 400 */
  tickMs?: number;
  /** This node's name (NODE_NAME). */
  nodeName?: string;
  /** The stream's `node:`: only a node of that name runs its source; every other node follows it. */
  pinned?: string;
}

/** While a pinned stream's node is away, its followers' viewers are told again this often (one who joined since hears it too). */
const ABSENT_NOTICE_MS = 5_000;

export interface ClusterSourceStats {
  role: ClusterRole;
  /** Frames this node published to Redis as owner. */
  published: number;
  /** Frames skipped because the previous PUBLISH had not finished (Redis slower than the source). */
  publishSkipped: number;
  /** Frames this node received from Redis as follower. */
  received: number;
}

/**
 * A configured stream's source in a cluster. On the node that holds the stream's lease it runs
 * the local source and publishes each frame to Redis once; on every other node with viewers it
 * subscribes to those frames (one subscription per node, however many viewers) and emits them
 * to its own Stream, which encodes its variants once per frame like for any source. The Stream
 * starts this source when its first viewer arrives and stops it after its idle grace, so a source
 * runs only on a node that has viewers; when the owner stops or dies, a follower takes the lease
 * over at its next tick (at most `leaseMs` + `tickMs` after the owner's last renewal).
 */
export class ClusterSource extends Source {
  readonly kind: string;
  readonly #options: Required<Pick<ClusterSourceOptions, 'leaseMs' | 'tickMs'>> & ClusterSourceOptions;
  readonly #lease: StreamLease;
  readonly #channel: string;
  #role: ClusterRole = 'idle';
  /** Whether the Stream wants frames (between its start() and stop()). */
  #wanted = false;
  #timer: NodeJS.Timeout | undefined;
  /** Role changes run one after another: a tick never overlaps a start or a stop. */
  #chain: Promise<void> = Promise.resolve();
  #ticking = false;
  #publishing = false;
  #pendingPublish: SourceFrame | undefined;
  readonly #counts = { published: 0, publishSkipped: 0, received: 0 };
  /** Pinned to another node: this node only ever follows. */
  readonly #elsewhere: boolean;
  /** Pinned to this node: it runs the source while any node has viewers, not only while it has some itself. */
  readonly #here: boolean;
  /** Whether the pinned node was in the cluster at the last look (`undefined`: not looked yet). */
  #nodePresent: boolean | undefined;
  #absentToldAt = 0;
  /**
   * Pinned here, running for other nodes only: deaths of the source since its last frame, and
   * when it may start again. With no Stream here to pace restarts, a source that keeps failing
   * would otherwise be started again at every tick.
   */
  #serveFailures = 0;
  #serveRetryAt = 0;
  readonly #serveBackoff = restartAtOnceThenBackOff(500, 10_000);
  #serving = false;

  constructor(options: ClusterSourceOptions) {
    super();
    this.#options = { leaseMs: 1500, tickMs: 400, ...options };
    this.kind = options.local.kind;
    this.#lease = new StreamLease(options.redis, options.streamId, options.nodeId, this.#options.leaseMs);
    this.#channel = framesChannel(options.streamId);
    this.#elsewhere = options.pinned !== undefined && options.pinned !== options.nodeName;
    this.#here = options.pinned !== undefined && options.pinned === options.nodeName;
    options.local.on('frame', this.#localOnFrame);
    options.local.on('status', this.#localOnStatus);
    options.local.on('exit', this.#localOnExit);
  }

  get role(): ClusterRole {
    return this.#role;
  }

  stats(): ClusterSourceStats {
    return { role: this.#role, ...this.#counts };
  }

  /** The node this stream is pinned to (`node:`), if any. */
  get pinned(): string | undefined {
    return this.#options.pinned;
  }

  /**
   * Pinned to this node: from now on it runs the source whenever another node follows the
   * stream (`PUBSUB NUMSUB` of its frames, every tick), not only for its own viewers.
   */
  serveFollowers(): void {
    if (!this.#here) return;
    this.#serving = true;
    this.#timer ??= setInterval(this.#tick, this.#options.tickMs).unref();
  }

  start(): Promise<void> {
    this.#wanted = true;
    this.#timer ??= setInterval(this.#tick, this.#options.tickMs).unref();
    return this.#serial(async () => {
      if (!this.#wanted) return;
      // The Stream starts a source again after it died: only the owner has anything to restart.
      if (this.#role === 'owner') return this.#options.local.start();
      if (this.#role === 'follower') return;
      if (!this.#elsewhere && (await this.#lease.acquire())) await this.#becomeOwner();
      else await this.#follow();
      // Redis away: the next tick looks again.
      if (this.#elsewhere) await this.#lookForNode().catch(() => undefined);
    });
  }

  stop(): Promise<void> {
    this.#wanted = false;
    if (this.#timer && !this.#serving) clearInterval(this.#timer);
    if (!this.#serving) this.#timer = undefined;
    return this.#serial(async () => {
      if (this.#wanted) return; // started again meanwhile
      this.#nodePresent = undefined;
      // Pinned here and another node still follows: the source runs on for it.
      if (this.#here && this.#serving && this.#role === 'owner' && (await this.#followers()) > 0) return;
      const role = this.#role;
      this.#role = 'idle';
      if (role === 'owner') {
        try {
          await this.#options.local.stop();
        } finally {
          // Released at once: a follower takes the stream over at its next tick, not after the TTL.
          await this.#lease.release();
        }
      } else if (role === 'follower') {
        await this.#unfollow();
      }
    });
  }

  #serial(step: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(step);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #becomeOwner(): Promise<void> {
    this.#role = 'owner';
    this.emit('status', `running the source of ${this.#options.streamId} on this node`);
    await this.#options.local.start();
  }

  async #follow(): Promise<void> {
    this.#role = 'follower';
    await this.#options.subscriber.subscribe(this.#channel, this.#remoteOnFrame, true);
  }

  async #unfollow(): Promise<void> {
    await this.#options.subscriber.unsubscribe(this.#channel, this.#remoteOnFrame, true);
  }

  /** Stops serving other nodes (the node is closing) and gives the lease up. */
  async close(): Promise<void> {
    this.#serving = false;
    await this.stop();
  }

  /** Nodes following this stream's frames. */
  async #followers(): Promise<number> {
    const counts = await this.#options.redis.pubSubNumSub(this.#channel);
    const count = Number(counts[this.#channel] ?? 0);
    return Number.isFinite(count) ? count : 0;
  }

  /**
   * Pinned elsewhere: whether its node is in the cluster (its name's key, renewed by its
   * heartbeat). Viewers are told when it goes and when it comes back, and every
   * ABSENT_NOTICE_MS while it is away.
   */
  async #lookForNode(): Promise<void> {
    const node = this.#options.pinned!;
    const present = (await this.#options.redis.get(nodeNameKey(node))) !== null;
    const was = this.#nodePresent;
    this.#nodePresent = present;
    const stream = this.#options.streamId;
    if (present) {
      if (was === false) this.emit('status', { message: `node "${node}", which runs the source of ${stream}, is back in the cluster: frames resume`, detail: { node, node_present: true } });
      return;
    }
    if (was === false && Date.now() - this.#absentToldAt < ABSENT_NOTICE_MS) return;
    this.#absentToldAt = Date.now();
    this.emit('status', { message: `node "${node}", the only node that runs the source of ${stream}, is not in the cluster: waiting for it to come back`, detail: { node, node_present: false } });
  }

  /** Pinned here: runs the source while this node or any other wants its frames, and stops it when none does. */
  async #serveTick(): Promise<void> {
    if (this.#role === 'owner') {
      if (!(await this.#lease.renew())) {
        // Another node of the same name took it (two nodes named alike): follow it, as any owner that lost its lease.
        this.#role = this.#wanted ? 'follower' : 'idle';
        await this.#options.local.stop();
        if (this.#wanted) await this.#follow();
        return;
      }
      if (this.#wanted || (await this.#followers()) > 0) return;
      this.#role = 'idle';
      try {
        await this.#options.local.stop();
      } finally {
        await this.#lease.release();
      }
      return;
    }
    if (!this.#wanted && (await this.#followers()) === 0) return;
    if (!this.#wanted && Date.now() < this.#serveRetryAt) return;
    if (!(await this.#lease.acquire())) return;
    if (this.#role === 'follower') await this.#unfollow();
    try {
      await this.#becomeOwner();
    } catch (error) {
      if (this.#wanted) this.#localOnExit({ error: error as Error, restartable: true });
    }
  }

  /** The owner renews its lease; a follower takes the lease when nobody holds it. */
  readonly #tick = (): void => {
    // A tick still waiting for Redis (Redis away, reconnecting) is not joined by another.
    if (this.#ticking || (!this.#wanted && !this.#serving)) return;
    this.#ticking = true;
    void this.#serial(async () => {
      if (this.#serving) return this.#serveTick();
      if (!this.#wanted) return;
      if (this.#elsewhere) return this.#lookForNode();
      if (this.#role === 'owner') {
        if (await this.#lease.renew()) return;
        // Our lease expired (this process stalled longer than leaseMs) and another node may hold
        // it: stop the source here so that only one runs, and watch the other node's frames.
        this.#role = 'follower';
        this.emit('status', `lease of ${this.#options.streamId} lost; following the owner`);
        await this.#options.local.stop();
        await this.#follow();
      } else if (this.#role === 'follower') {
        if (!(await this.#lease.acquire())) return;
        await this.#unfollow();
        try {
          await this.#becomeOwner();
        } catch (error) {
          // The Stream restarts it like any source that died (start() again, as owner).
          this.#localOnExit({ error: error as Error, restartable: true });
        }
      }
    }).catch((error: unknown) => {
      // Redis unreachable for now: the next tick tries again; viewers see at most a pause.
      this.emit('status', `cluster: ${(error as Error).message}`);
    }).finally(() => {
      this.#ticking = false;
    });
  };

  readonly #localOnFrame = (frame: SourceFrame): void => {
    if (this.#role !== 'owner') return;
    this.#serveFailures = 0;
    this.emit('frame', frame);
    this.#publish(frame);
  };

  /**
   * One PUBLISH in flight at a time and the latest frame waiting behind it: when Redis is slower
   * than the source, frames are skipped (and counted) instead of queueing in the client.
   */
  #publish(frame: SourceFrame): void {
    if (this.#publishing) {
      if (this.#pendingPublish) this.#counts.publishSkipped++;
      this.#pendingPublish = frame;
      return;
    }
    this.#publishing = true;
    this.#options.redis.publish(this.#channel, encodeFrameMessage(frame)).then(
      () => this.#counts.published++,
      () => this.#counts.publishSkipped++,
    ).finally(() => {
      this.#publishing = false;
      const next = this.#pendingPublish;
      this.#pendingPublish = undefined;
      if (next && this.#role === 'owner') this.#publish(next);
    });
  }

  readonly #remoteOnFrame = (message: Buffer): void => {
    if (this.#role !== 'follower') return;
    const frame = decodeFrameMessage(message);
    if (!frame) return;
    this.#counts.received++;
    this.emit('frame', frame);
  };

  readonly #localOnStatus = (status: SourceEvents['status']): void => {
    if (this.#role === 'owner') this.emit('status', status);
  };

  readonly #localOnExit = (exit: SourceExit): void => {
    if (this.#role !== 'owner') return;
    if (this.#wanted) return void this.emit('exit', exit);
    // Running for other nodes only (pinned here), with no Stream here to restart it: give the
    // lease up, and the next tick starts the source again while some node follows.
    this.#role = 'idle';
    // At once after a source that was delivering, then 0.5 s doubling up to 10 s, as a Stream restarts one.
    this.#serveRetryAt = Date.now() + (this.#serveBackoff.nextDelay(++this.#serveFailures) ?? 0);
    void this.#serial(() => this.#lease.release()).catch(() => undefined);
  };
}
