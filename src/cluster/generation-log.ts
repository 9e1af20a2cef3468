import type { EventLog } from '../generations/event-log.js';
import type { GenerationEvent } from '../generations/generation-event.js';
import { GenerationError } from '../generations/generation-error.js';
import type { EventWriter, GenerationEntry } from '../generations/generations.js';
import { ErrorCode } from '../wire/errors.js';
import { GENERATION_EVENTS_KEY, GENERATION_SEQ_KEY, generationClaimKey } from './keys.js';
import type { RedisClient } from './redis-connection.js';

/**
 * One event into the stream, atomically: the claim (a job id or an image index no node announced
 * yet, else `{0, 0}` and nothing is written), the next id, the stream entry `<ms>-<id>` and the
 * trimming. The id continues after the counter and after the caller's own newest id (ARGV[2]),
 * so a Redis that lost its data (restarted without persistence) never hands out an id a node
 * already delivered. The time part is Redis's clock, never behind the previous entry's (nor
 * behind an id something else added to the key: XADD refuses an id below the stream's last),
 * so entry ids grow and `MINID` trims by age.
 */
const APPEND = `
if KEYS[3] and not redis.call('set', KEYS[3], '1', 'NX', 'PX', ARGV[5]) then return {0, 0} end
local n = math.max(tonumber(redis.call('hget', KEYS[1], 'n') or '0'), tonumber(ARGV[2])) + 1
local t = redis.call('time')
local ms = math.max(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), tonumber(redis.call('hget', KEYS[1], 'ms') or '0'))
if redis.call('exists', KEYS[2]) == 1 then
  local info = redis.call('xinfo', 'stream', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local lms, lseq = string.match(info[i + 1], '^(%d+)-(%d+)$')
      if ms < tonumber(lms) or (ms == tonumber(lms) and n <= tonumber(lseq)) then ms = tonumber(lms) + 1 end
    end
  end
end
redis.call('hset', KEYS[1], 'n', n, 'ms', ms)
redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[3], string.format('%d-%d', ms, n), 'event', ARGV[1])
if tonumber(ARGV[4]) > 0 then redis.call('xtrim', KEYS[2], 'MINID', '~', string.format('%d', ms - tonumber(ARGV[4]))) end
return {n, ms}
`;

/** Raises the counter to a node's newest id (after Redis came back without its data); never lowers it. */
const RESEED = `
if tonumber(redis.call('hget', KEYS[1], 'n') or '0') < tonumber(ARGV[1]) then redis.call('hset', KEYS[1], 'n', ARGV[1]) return 1 end
return 0
`;

export interface RedisEventLogOptions {
  /** Commands: appends and the tail read at start (the cluster's shared connection). */
  redis: RedisClient;
  /** A connection of its own for `XREAD BLOCK`, which holds it; closed by `close()`. */
  reader: RedisClient;
  /** This node's replay log: every route keeps reading it as on a single node. */
  log: EventLog<GenerationEvent>;
  /** Makes an entry read from Redis ready for the log (an image event gets the store's record). */
  prepare(entry: GenerationEntry): Promise<GenerationEntry>;
  warn(object: object, message: string): void;
  /** How long a job id or image index stays taken cluster-wide. @default 86_400_000 (a day) */
  claimTtlMs?: number;
  /** An append whose entry has not come back from Redis by then is answered as failed. @default 10_000 */
  ackTimeoutMs?: number;
  /** @default 2000 */
  blockMs?: number;
}

export interface RedisEventLogStats {
  /** Entries added to this node's log from the stream. */
  applied: number;
  /** Entries not added: already held, not framehub's, or an id Redis handed out twice after losing data. */
  skipped: number;
  /** Ids this node never got (trimmed from the stream, or lost by Redis, before it read them). */
  lost: number;
}

interface Waiter {
  resolve(entry: GenerationEntry): void;
  reject(error: Error): void;
  event: GenerationEvent;
  at: number;
  timer: NodeJS.Timeout;
}

/**
 * The replay log of a cluster: events are appended to one Redis Stream, which hands out their
 * ids (global, ordered, no holes), and every node follows the stream into its own `EventLog`,
 * in stream order, so `?since=` means the same on every node. An append resolves once its entry
 * has come back through this node's follower and is in the local log: the id a producer is
 * answered with is then readable here, as on a single node, and Redis has accepted the event.
 */
export class RedisEventLog implements EventWriter {
  readonly #options: Required<Pick<RedisEventLogOptions, 'claimTtlMs' | 'ackTimeoutMs' | 'blockMs'>> & RedisEventLogOptions;
  readonly #log: EventLog<GenerationEvent>;
  /** The stream id of the newest entry read: the follower reads after it. */
  #lastStreamId = '0-0';
  readonly #waiters = new Map<number, Waiter>();
  #following: Promise<void> | undefined;
  #closed = false;
  /** After Redis was away: raise the counter to this node's newest id before reading again. */
  #reseed = false;
  #warnedAt = 0;
  readonly #stats: RedisEventLogStats = { applied: 0, skipped: 0, lost: 0 };

  constructor(options: RedisEventLogOptions) {
    this.#options = { claimTtlMs: 86_400_000, ackTimeoutMs: 10_000, blockMs: 2_000, ...options };
    this.#log = options.log;
  }

  stats(): RedisEventLogStats {
    return { ...this.#stats };
  }

  /**
   * Fills the local log with the stream's tail (the newest REPLAY_SIZE events), so a consumer
   * that reconnects to a node that just started gets what it missed. An empty stream continues
   * after the counter (the events expired by age; their ids are not reused).
   */
  async load(): Promise<void> {
    const { redis } = this.#options;
    const [counter, tail] = await Promise.all([
      redis.hGet(GENERATION_SEQ_KEY, 'n'),
      redis.xRevRange(GENERATION_EVENTS_KEY, '+', '-', { COUNT: this.#log.maxEntries }),
    ]);
    const messages = (tail ?? []).reverse();
    if (messages.length === 0) {
      this.#log.restartAfter(Math.max(this.#log.lastId, Number(counter ?? 0) || 0));
      return;
    }
    const first = parseMessage(messages[0]!);
    if (first && first.id - 1 > this.#log.lastId) this.#log.restartAfter(first.id - 1);
    for (const message of messages) await this.#apply(message);
  }

  /** Starts following the stream; entries appended by any node arrive in the local log in order. */
  follow(): void {
    this.#following ??= this.#followLoop();
  }

  append(event: GenerationEvent): Promise<GenerationEntry> {
    if (this.#closed) return Promise.reject(new Error('the cluster event log is closed'));
    return this.#append(event);
  }

  /** Stops following and fails appends still waiting for their entry. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Not closeRedis(): a close waits for the pending XREAD BLOCK; nothing else runs on this connection.
      if (this.#options.reader.isOpen) this.#options.reader.destroy();
      for (const [id, waiter] of this.#waiters) this.#settle(id, waiter, new Error('the server is shutting down'));
    }
    await this.#following;
  }

  async #append(event: GenerationEvent): Promise<GenerationEntry> {
    const claim = claimOf(event);
    const keys = [GENERATION_SEQ_KEY, GENERATION_EVENTS_KEY, ...(claim ? [claim] : [])];
    const { maxEntries, maxAgeMs } = this.#log;
    const reply = await this.#options.redis.eval(APPEND, {
      keys,
      arguments: [JSON.stringify(event), String(this.#log.lastId), String(maxEntries), String(maxAgeMs), String(this.#options.claimTtlMs)],
    });
    const [id, at] = reply as [number, number];
    if (id === 0) {
      throw event.kind === 'started'
        ? new GenerationError(ErrorCode.JobExists, `job ${event.job.id} already exists (announced by another node)`)
        : new GenerationError(ErrorCode.DuplicateImage, `this image of job ${event.kind === 'image' ? event.job.id : ''} was already announced by another node`);
    }
    if (this.#log.lastId >= id) return this.#held(id, at, event);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiter = this.#waiters.get(id);
        if (waiter) this.#settle(id, waiter, new Error(`Redis accepted event ${id} but it did not come back within ${this.#options.ackTimeoutMs} ms`));
      }, this.#options.ackTimeoutMs);
      this.#waiters.set(id, { resolve, reject, event, at, timer });
    });
  }

  /** The local log's entry `id`, or one made from the event when the log no longer holds it (a tiny REPLAY_SIZE). */
  #held(id: number, at: number, event: GenerationEvent): GenerationEntry {
    const entry = this.#log.next(id - 1);
    return entry?.id === id ? entry : { id, at, event };
  }

  #settle(id: number, waiter: Waiter, error?: Error): void {
    this.#waiters.delete(id);
    clearTimeout(waiter.timer);
    if (error) waiter.reject(error);
    else waiter.resolve(this.#held(id, waiter.at, waiter.event));
  }

  async #followLoop(): Promise<void> {
    const { reader, blockMs } = this.#options;
    while (!this.#closed) {
      let replies: Awaited<ReturnType<RedisClient['xRead']>>;
      try {
        if (this.#reseed) {
          await reader.eval(RESEED, { keys: [GENERATION_SEQ_KEY], arguments: [String(this.#log.lastId)] });
          this.#reseed = false;
        }
        replies = await reader.xRead({ key: GENERATION_EVENTS_KEY, id: this.#lastStreamId }, { BLOCK: blockMs, COUNT: 256 });
      } catch (error) {
        if (this.#closed) return;
        // Redis away: its connection logs that (once every 5 s) and reconnects by itself. A
        // command refused with Redis up (the key taken by something else) is said here, as rarely.
        if (this.#options.reader.isReady && Date.now() - this.#warnedAt > 5_000) {
          this.#warnedAt = Date.now();
          this.#options.warn({ err: error }, 'generation events: reading the stream failed; retrying');
        }
        this.#reseed = true;
        await this.#readerBack();
        continue;
      }
      for (const stream of (replies ?? []) as { messages: StreamMessage[] }[]) {
        for (const message of stream.messages) await this.#apply(message);
      }
    }
  }

  /** Resolves when the reader's connection is up again, or after a second (a command may have failed for another reason). */
  #readerBack(): Promise<void> {
    const { reader } = this.#options;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        reader.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 1_000);
      reader.on('ready', done);
    });
  }

  /** Adds one stream entry to the local log, keeping its ids without holes; never throws. */
  async #apply(message: StreamMessage): Promise<void> {
    this.#lastStreamId = String(message.id);
    const entry = parseMessage(message);
    const log = this.#log;
    if (!entry || entry.id <= log.lastId) {
      // Read twice (the tail at start overlapping the first read), not ours, or an id Redis
      // gave out again after losing its data while this node already held that id.
      this.#stats.skipped++;
      if (entry && entry.id < log.lastId) this.#options.warn({ event: entry.id, lastId: log.lastId }, 'generation event id already used here: Redis lost events; skipped');
      return;
    }
    try {
      if (entry.id > log.lastId + 1) {
        // Events this node can no longer read (trimmed while it was away, or lost by Redis):
        // a consumer behind them gets a replay gap here, never a hole.
        this.#stats.lost += entry.id - log.lastId - 1;
        this.#options.warn({ from: log.lastId + 1, to: entry.id - 1 }, 'generation events missed by this node; consumers behind them get a replay gap');
        log.restartAfter(entry.id - 1);
      }
      let ready: GenerationEntry;
      try {
        ready = await this.#options.prepare(entry);
      } catch (error) {
        this.#options.warn({ err: error, event: entry.id }, 'generation event: its image could not be indexed');
        ready = entry;
      }
      log.add(ready);
      this.#stats.applied++;
    } catch (error) {
      this.#options.warn({ err: error, event: entry.id }, 'generation event could not be added');
    }
    for (const [id, waiter] of this.#waiters) if (id <= log.lastId) this.#settle(id, waiter);
  }
}

interface StreamMessage {
  id: unknown;
  message: unknown;
}

/** A stream entry as a log entry: id and time from the entry id, the event from its JSON; `undefined` for anything else. */
function parseMessage({ id, message }: StreamMessage): GenerationEntry | undefined {
  const match = /^(\d+)-(\d+)$/.exec(String(id));
  if (!match) return undefined;
  const at = Number(match[1]);
  const n = Number(match[2]);
  const raw = message instanceof Map ? message.get('event') : (message as Record<string, unknown> | null)?.['event'];
  if (!Number.isSafeInteger(n) || n < 1 || raw === undefined || raw === null) return undefined;
  let event: unknown;
  try {
    event = JSON.parse(String(raw));
  } catch {
    return undefined;
  }
  return isGenerationEvent(event) ? { id: n, at, event } : undefined;
}

const KINDS = new Set(['started', 'progress', 'image', 'failed', 'notification']);

/** The shape the renderers rely on; Redis may be shared with other applications. */
function isGenerationEvent(value: unknown): value is GenerationEvent {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  if (typeof event['kind'] !== 'string' || !KINDS.has(event['kind'])) return false;
  if (event['kind'] === 'notification') return typeof event['message'] === 'string';
  const job = event['job'] as Record<string, unknown> | null | undefined;
  if (typeof job !== 'object' || job === null || typeof job['id'] !== 'string') return false;
  if (event['kind'] !== 'image') return true;
  const image = event['image'] as Record<string, unknown> | null | undefined;
  return typeof image === 'object' && image !== null && typeof image['name'] === 'string' && typeof image['params'] === 'object' && image['params'] !== null;
}

/** The claim an event takes: a job's id, an image's index in its job; other events take none. */
function claimOf(event: GenerationEvent): string | undefined {
  if (event.kind === 'started') return generationClaimKey('job', event.job.id);
  if (event.kind === 'image') return generationClaimKey('image', event.job.id, event.image.imageIdx);
  return undefined;
}
