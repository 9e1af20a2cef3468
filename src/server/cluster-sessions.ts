import type { FastifyBaseLogger } from 'fastify';
import type { Cluster } from '../cluster/cluster.js';
import { RemoteSessions } from '../cluster/remote-sessions.js';
import { SessionDirectory } from '../cluster/session-directory.js';
import { PARTICIPANT_HEADER, SessionForward } from '../cluster/session-forward.js';
import { SessionRelay } from '../cluster/session-relay.js';
import type { Encoder } from '../hub/encoder.js';
import type { RegistryOptions, SessionRegistry } from '../sessions/session-registry.js';
import type { VisitorOf } from './session-routes.js';
import { VisitingParticipants } from './visiting-participants.js';

/** Browser sessions in a cluster: the parts that let every node serve a session one node runs. */
export interface ClusterSessions {
  directory: SessionDirectory;
  remote: RemoteSessions;
  forward: SessionForward;
  /** Other nodes' Socket.IO viewers taking part in this node's sessions (presence, control). */
  visiting: VisitingParticipants;
  /** The participant a forwarded input comes from (the input route takes it as that participant's). */
  visitorOf: VisitorOf;
  /** The participants this node's sockets are in other nodes' sessions: listed in its heartbeat. */
  participants: Set<string>;
  /** The registry's cluster hooks: ids and cap places taken and given up in Redis (session-directory.ts). */
  registryHooks: Pick<RegistryOptions, 'claimId' | 'releaseId'>;
  /** Once the registry exists: starts following the other nodes' sessions and relaying this node's. */
  start(registry: SessionRegistry): Promise<void>;
  close(): Promise<void>;
}

/** Wiring only: the directory (who runs which session), the relay (this node's frames out), the remote streams (others' frames in), the forwarder (calls out). */
export function clusterSessions(cluster: Cluster, deps: { encoder: Encoder; idleGraceMs: number; log: FastifyBaseLogger }): ClusterSessions {
  let registry: SessionRegistry | undefined;
  const directory = new SessionDirectory({
    redis: cluster.redis,
    subscriber: cluster.subscriber,
    node: cluster.node,
  });
  const relay = new SessionRelay({
    redis: cluster.redis,
    sessions: () => registry?.list().map((session) => ({ id: session.id, stream: session.stream, fps: session.options.fps })) ?? [],
    onError: (error) => deps.log.debug({ err: error }, 'cluster: relaying a session\'s frames'),
  });
  const remote = new RemoteSessions({
    directory,
    subscriber: cluster.subscriber,
    encoder: deps.encoder,
    idleGraceMs: deps.idleGraceMs,
    isLocal: (id) => registry?.get(id) !== undefined,
  });
  directory.on('session:watched', function directoryOnWatched({ id }) {
    relay.watched(id);
  });
  const visiting = new VisitingParticipants(cluster.node.id);
  // Each node list read drops the participants their node lists no more (left, or the node died).
  directory.on('nodes', function directoryOnNodes(nodes) {
    try {
      visiting.prune(nodes);
    } catch (error) {
      deps.log.warn({ err: error }, 'cluster: dropping the participants of nodes gone');
    }
  });
  const forward = new SessionForward(directory);
  return {
    directory,
    remote,
    forward,
    visiting,
    visitorOf(session, request) {
      const node = forward.sender(request.headers);
      const id = request.headers[PARTICIPANT_HEADER];
      if (node === undefined || typeof id !== 'string') return undefined;
      return visiting.get(session, node, id)?.viewer;
    },
    participants: new Set(),
    registryHooks: {
      claimId: (claim, caps) => directory.claim(claim, caps),
      // Redis away: the claim is no longer renewed and lapses by itself.
      releaseId: (id, reason) => directory.release(id, reason).catch((error: unknown) => deps.log.warn({ err: error, session: id }, 'cluster: releasing a session id')),
    },
    async start(sessions) {
      registry = sessions;
      await directory.start();
      relay.start();
    },
    async close() {
      relay.stop();
      await remote.close();
      await directory.stop();
    },
  };
}
