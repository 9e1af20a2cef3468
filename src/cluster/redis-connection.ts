import { createClient } from 'redis';

/** A node-redis client as framehub makes them (connectRedis). */
export type RedisClient = ReturnType<typeof makeClient>;

function makeClient(url: string, name: string, timeoutMs: number) {
  return createClient({
    url,
    name,
    // While Redis is away a command fails at once instead of waiting in the client: a lease tick,
    // a heartbeat or a frame waiting for a Redis that may never come back would hold up the
    // next tick and a clean stop; each of them simply tries again later.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: timeoutMs,
      // Retry quickly, then every 2 s: a restarted Redis is found again within a couple of seconds.
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000),
    },
  });
}

export interface RedisLog {
  warn(object: object, message: string): void;
  info(message: string): void;
}

/** Redis could not be reached when the node started. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/**
 * Connects to `url`, with its `error` listener attached before anything can fail: node-redis
 * reconnects by itself (with backoff) and reports every failed attempt as an `error` event, which
 * would end the process without a listener. Rejects if the first connection is not up within
 * `timeoutMs`, so a node started against a wrong URL says so instead of waiting forever.
 */
export async function connectRedis(url: string, log: RedisLog, name: string, timeoutMs = 10_000): Promise<RedisClient> {
  const client = makeClient(url, name, timeoutMs);
  let lastLogged = 0;
  client.on('error', function redisOnError(error: Error) {
    // One line every 5 s at most while Redis is away, not one per reconnect attempt.
    const now = Date.now();
    if (now - lastLogged < 5_000) return;
    lastLogged = now;
    log.warn({ err: error }, `redis (${name})`);
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`redis at ${redactUrl(url)} not reachable within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([client.connect(), late]);
  } catch (error) {
    client.destroy();
    throw error instanceof RedisUnavailableError ? error : new RedisUnavailableError(`redis at ${redactUrl(url)}: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  return client;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}

/**
 * Closes a client whatever state it is in. Connected: after the commands under way have been
 * answered (within `ms`), since some callers (Socket.IO's adapter) do not wait for their
 * commands and a destroyed client fails them. Reconnecting: at once.
 */
export async function closeRedis(client: RedisClient, ms = 2_000): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) {
    client.destroy();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    if ((await Promise.race([client.close(), late])) === 'late') client.destroy();
  } catch {
    client.destroy();
  } finally {
    clearTimeout(timer);
  }
}
