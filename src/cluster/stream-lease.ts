import type { RedisClient } from './redis-connection.js';
import { leaseKey } from './keys.js';

// Renew and release only a lease this node still holds: GET and PEXPIRE/DEL in one script, so a
// lease that expired and went to another node in between is never extended or deleted by us.
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
/** Deletes KEYS[1] only while it holds ARGV[1] (this node's id): what a node gives up, never another's. */
export const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/**
 * The right to run one stream's source: a Redis key holding the owner's node id with a TTL.
 * Taken with `SET NX PX`, so at most one node holds it; the holder renews it well before it
 * expires; a holder that dies stops renewing and the key expires, so another node can take it.
 */
export class StreamLease {
  readonly #key: string;

  constructor(
    private readonly redis: RedisClient,
    streamId: string,
    private readonly nodeId: string,
    /** How long the lease outlives its last renewal. */
    readonly ttlMs: number,
  ) {
    this.#key = leaseKey(streamId);
  }

  /** Takes the lease if nobody holds it; `true` when this node holds it now. */
  async acquire(): Promise<boolean> {
    const answer = await this.redis.set(this.#key, this.nodeId, { condition: 'NX', expiration: { type: 'PX', value: this.ttlMs } });
    return answer === 'OK';
  }

  /** Extends the lease; `false` when this node no longer holds it (it expired, another node took it). */
  async renew(): Promise<boolean> {
    const answer = await this.redis.eval(RENEW, { keys: [this.#key], arguments: [this.nodeId, String(this.ttlMs)] });
    return answer === 1;
  }

  /** Gives the lease up at once (a clean stop), so another node need not wait for it to expire. */
  async release(): Promise<void> {
    await this.redis.eval(RELEASE, { keys: [this.#key], arguments: [this.nodeId] });
  }
}

/** The node holding each stream's lease (`null`: no source runs for it anywhere). */
export async function leaseOwners(redis: RedisClient, streamIds: readonly string[]): Promise<Record<string, string | null>> {
  if (streamIds.length === 0) return {};
  const values = await redis.mGet(streamIds.map(leaseKey));
  return Object.fromEntries(streamIds.map((id, i) => [id, values[i] ?? null]));
}
