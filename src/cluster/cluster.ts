import type { Source } from '../sources/source.js';
import { ClusterNode, type NodeInfo, type NodeReport } from './cluster-node.js';
import { ClusterSource } from './cluster-source.js';
import { closeRedis, connectRedis, type RedisClient, type RedisLog } from './redis-connection.js';
import { leaseOwners } from './stream-lease.js';

export interface ClusterOptions {
  url: string;
  log: RedisLog;
  /** Lease of a stream's source (see ClusterSource). */
  leaseMs?: number;
  tickMs?: number;
  heartbeatMs?: number;
  /** This node's name (NODE_NAME): what a configured stream's `node:` names. @default the host name */
  nodeName?: string;
}

/** What `GET /api/cluster` answers. */
export interface ClusterView {
  /** The node that answered. */
  node: string;
  /** Its name (NODE_NAME). */
  name: string;
  nodes: NodeInfo[];
  /**
   * Per configured stream: the node running its source (`null`: none), its viewers on every
   * node, and for a stream pinned with `node:` the name of the only node that may run it and
   * whether a node of that name is in the cluster.
   */
  streams: Record<string, { owner: string | null; viewers: number; node?: string; nodePresent?: boolean }>;
  /** Per browser session: the node its Chromium runs on. */
  sessions: Record<string, string>;
  /** Per browser session with an owner (access configured): whose it is. */
  sessionOwners: Record<string, string>;
}

/**
 * This process in a framehub cluster: its Redis connections (commands; a subscriber for frames),
 * its membership, and the sources it wraps so that each stream's source runs on one node.
 */
export class Cluster {
  readonly #sources = new Map<string, ClusterSource>();
  #closing: Promise<void> | undefined;

  private constructor(
    readonly redis: RedisClient,
    readonly subscriber: RedisClient,
    readonly node: ClusterNode,
    private readonly options: ClusterOptions,
  ) {}

  /** Connects to Redis; rejects if Redis cannot be reached. start() then joins. */
  static async join(options: ClusterOptions): Promise<Cluster> {
    const redis = await connectRedis(options.url, options.log, 'framehub');
    let subscriber: RedisClient;
    try {
      subscriber = await connectRedis(options.url, options.log, 'framehub-frames');
    } catch (error) {
      await closeRedis(redis);
      throw error;
    }
    const node = new ClusterNode({
      redis,
      ...(options.nodeName !== undefined && { name: options.nodeName }),
      ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
      onError: (error) => options.log.warn({ err: error }, 'cluster heartbeat'),
    });
    return new Cluster(redis, subscriber, node, options);
  }

  /** Announces this node to the others (the first heartbeat); `report` is asked on every heartbeat. */
  async start(report: () => Omit<NodeReport, 'cpu' | 'rss'>): Promise<void> {
    await this.node.start(report);
    for (const source of this.#sources.values()) source.serveFollowers();
    this.options.log.info(`cluster: joined as node ${this.node.id} (name ${this.node.name})`);
  }

  /** Another connection to the cluster's Redis, for a part that blocks on it (the generation log's `XREAD BLOCK`); its user closes it. */
  connect(name: string): Promise<RedisClient> {
    return connectRedis(this.options.url, this.options.log, name);
  }

  /** `local` as this stream's source in the cluster: it runs here only while this node holds the stream's lease. */
  wrapSource(streamId: string, local: Source, pinned?: string): ClusterSource {
    const source = new ClusterSource({
      streamId,
      local,
      nodeId: this.node.id,
      nodeName: this.node.name,
      ...(pinned !== undefined && { pinned }),
      redis: this.redis,
      subscriber: this.subscriber,
      ...(this.options.leaseMs !== undefined && { leaseMs: this.options.leaseMs }),
      ...(this.options.tickMs !== undefined && { tickMs: this.options.tickMs }),
    });
    this.#sources.set(streamId, source);
    return source;
  }

  /** This node's cluster source of a stream, if the stream is a clustered one. */
  source(streamId: string): ClusterSource | undefined {
    return this.#sources.get(streamId);
  }

  async view(): Promise<ClusterView> {
    const nodes = await this.node.nodes();
    const owners = await leaseOwners(this.redis, [...this.#sources.keys()]);
    const streams: ClusterView['streams'] = {};
    for (const [id, owner] of Object.entries(owners)) {
      const viewers = nodes.reduce((sum, node) => sum + (node.streams.find((s) => s.id === id)?.viewers ?? 0), 0);
      const pinned = this.#sources.get(id)?.pinned;
      streams[id] = { owner, viewers, ...(pinned !== undefined && { node: pinned, nodePresent: nodes.some((node) => node.name === pinned) }) };
    }
    const sessions: ClusterView['sessions'] = {};
    const sessionOwners: ClusterView['sessionOwners'] = {};
    for (const node of nodes) {
      for (const id of node.sessions) sessions[id] = node.id;
      // A node of an older version reports no owners.
      Object.assign(sessionOwners, node.sessionOwners ?? {});
    }
    return { node: this.node.id, name: this.node.name, nodes, streams, sessions, sessionOwners };
  }

  /** Leaves the cluster and closes the connections; call after the streams have stopped (their leases are released then). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // A pinned stream's source may run for other nodes only: stopped, and its lease released, before the node leaves.
      await Promise.all([...this.#sources.values()].map((source) => source.close().catch(() => undefined)));
      await this.node.stop();
      await closeRedis(this.subscriber);
      await closeRedis(this.redis);
    })();
    return this.#closing;
  }
}
