import type { FastifyInstance } from 'fastify';
import type { Cluster } from '../cluster/cluster.js';
import type { NodeReport } from '../cluster/cluster-node.js';
import type { Hub } from '../hub/hub.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { Access } from './access.js';

/** What this node reports on each heartbeat: its viewers per configured stream, its role for each, its sessions and their owners. */
export function nodeReport(hub: Hub, cluster: Cluster, sessions: SessionRegistry, listed: (id: string) => boolean = () => true, participants?: ReadonlySet<string>): Omit<NodeReport, 'cpu' | 'rss'> {
  const streams: NodeReport['streams'] = [];
  let viewers = 0;
  for (const stream of hub.list()) {
    viewers += stream.subscriberCount;
    const source = cluster.source(stream.id);
    if (!source) continue;
    const { role, published, received } = source.stats();
    streams.push({ id: stream.id, viewers: stream.subscriberCount, role, published, received });
  }
  for (const session of sessions.list()) viewers += session.stream.subscriberCount;
  // `listed`: in a cluster, only sessions whose id this node holds (not one still asking for it).
  const own = sessions.list().filter((session) => listed(session.id));
  const sessionOwners: NodeReport['sessionOwners'] = {};
  for (const session of own) if (session.options.owner !== undefined) sessionOwners[session.id] = session.options.owner;
  return { viewers, streams, sessions: own.map((session) => session.id), sessionOwners, ...(participants && { participants: [...participants] }) };
}

/**
 * `GET /api/cluster` (`admin`, like `/metrics`: it names every node's address and session): the
 * nodes, their load, which node runs which stream's source and which session (only with REDIS_URL).
 */
export function registerClusterRoute(app: FastifyInstance, cluster: Cluster, access: Access): void {
  app.get('/api/cluster', { onRequest: access.hook(() => 'admin') }, async () => cluster.view());
}
