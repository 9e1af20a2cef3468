/**
 * Every Redis key and channel framehub uses, in one place. All start with `framehub:`, so one
 * Redis can hold other applications' data beside a cluster's.
 */
export const KEY_PREFIX = 'framehub:';

/** A node's heartbeat (JSON NodeInfo), with a TTL: a node that stops renewing it drops out. */
export const nodeKey = (nodeId: string): string => `${KEY_PREFIX}node:${nodeId}`;
export const NODE_KEY_PATTERN = `${KEY_PREFIX}node:*`;

/** A live node of that name (NODE_NAME): its id, with the heartbeat's TTL. Its pinned streams' followers read it. */
export const nodeNameKey = (name: string): string => `${KEY_PREFIX}node-name:${name}`;

/** A stream's source lease: the id of the node that runs the source, with a TTL (`SET NX PX`). */
export const leaseKey = (streamId: string): string => `${KEY_PREFIX}lease:${streamId}`;

/** A stream's frames, published once per source frame by the lease holder (pub/sub). */
export const framesChannel = (streamId: string): string => `${KEY_PREFIX}frames:${streamId}`;

/** The generation events (a Redis Stream, entry ids `<ms>-<event id>`), trimmed to REPLAY_SIZE / REPLAY_AGE. */
export const GENERATION_EVENTS_KEY = `${KEY_PREFIX}gen:events`;

/** A hash `{n, ms}`: the newest event id handed out and its time, so ids and stream ids only grow. */
export const GENERATION_SEQ_KEY = `${KEY_PREFIX}gen:seq`;

/** Taken with the event that announces a job or one of its images, so no other node announces it again (409). */
export const generationClaimKey = (kind: 'job' | 'image', jobId: string, imageIdx?: number): string =>
  `${KEY_PREFIX}gen:claim:${kind}:${jobId}${imageIdx === undefined ? '' : `:${imageIdx}`}`;

/** A browser session's id, claimed cluster-wide by the node running it (its node id, `SET NX PX`, renewed while it runs). */
export const sessionKey = (sessionId: string): string => `${KEY_PREFIX}session:${sessionId}`;

/** Sessions opened, closed and watched from other nodes (pub/sub, JSON SessionNotice): what keeps every node's directory current between heartbeats. */
export const SESSIONS_CHANNEL = `${KEY_PREFIX}sessions`;

/**
 * The Socket.IO room (through the cluster adapter) of the participants other nodes hold in a
 * session `node` runs: its control and presence broadcasts reach their sockets there. Named from
 * the node and the id, so a node's socket joins it before asking to join the session's presence.
 */
export const participantsRoom = (nodeId: string, sessionId: string): string => `${KEY_PREFIX}participants:${nodeId}:${sessionId}`;

/** A random secret every node reads at start: a forwarded call carries it, so the node it reaches may trust the client address it names. */
export const CLUSTER_SECRET_KEY = `${KEY_PREFIX}cluster-secret`;

/**
 * The browser sessions counted against the caps, cluster-wide: sorted sets of session ids, each
 * scored with when its reservation lapses unless its node renews it (Redis's clock, ms). One of
 * every session, one per client address, one per owner; a create checks and joins them in one
 * script (session-directory.ts), so two nodes cannot both take the last place.
 */
export const SESSION_CAPS_ALL_KEY = `${KEY_PREFIX}session-caps:all`;
export const sessionCapsIpKey = (ip: string): string => `${KEY_PREFIX}session-caps:ip:${ip}`;
export const sessionCapsOwnerKey = (owner: string): string => `${KEY_PREFIX}session-caps:owner:${owner}`;

/** A share link (a hash: target, mode, scope, created, expires, max, uses, revoked), expiring with the link (cluster-share-links.ts). */
export const shareKey = (linkId: string): string => `${KEY_PREFIX}share:${linkId}`;
/** The links of one target (a sorted set of link ids scored by their expiry, ms): its cap and its list. */
export const sharesTargetKey = (target: string): string => `${KEY_PREFIX}shares:target:${target}`;
/** Every link of the cluster (scored by expiry): the overall cap. */
export const SHARES_ALL_KEY = `${KEY_PREFIX}shares:all`;
/** Revocations and dropped targets (pub/sub, JSON): every node ends its connections made with those links at once. */
export const SHARES_CHANNEL = `${KEY_PREFIX}shares`;
/** The key share tokens are signed with when neither JWT_SECRET nor SHARE_SECRET is set: random, set by the first node. */
export const SHARE_SECRET_KEY = `${KEY_PREFIX}share-secret`;
