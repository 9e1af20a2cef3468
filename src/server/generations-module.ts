import { join, resolve } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/config.js';
import type { Encoder } from '../hub/encoder.js';
import type { Hub } from '../hub/hub.js';
import { Stream } from '../hub/stream.js';
import { PushSource } from '../sources/push-source.js';
import { ComfyUiBridge } from '../bridges/comfyui-bridge.js';
import { EventJournal } from '../generations/event-journal.js';
import { EventLog, type LogEntry } from '../generations/event-log.js';
import type { GenerationEvent } from '../generations/generation-event.js';
import { Generations, type EventWriter, type GenerationEntry } from '../generations/generations.js';
import { ImageStore } from '../generations/image-store.js';
import { GenerationMessages } from '../protocols/generation-messages.js';
import type { Cluster } from '../cluster/cluster.js';
import { RedisEventLog, type RedisEventLogStats } from '../cluster/generation-log.js';

export const COMFYUI_PREVIEWS = 'comfyui:previews';
/** The replay log's file, in the image directory (see docs/generations.md, "Durability"). */
export const EVENT_JOURNAL = 'events.jsonl';

/** The generation parts the routes share. */
export interface GenerationsModule {
  readonly generations: Generations;
  readonly log: EventLog<GenerationEvent>;
  readonly store: ImageStore;
  readonly wire: GenerationMessages;
  /** Unsent events a consumer may lag behind before it is closed with 4408 (below the log size, see EventFeed). */
  readonly maxLag: number;
  readonly bridge: ComfyUiBridge | undefined;
  /** In a cluster: events this node took from the Redis Stream, skipped, and never got (a replay gap). */
  readonly clusterEvents: (() => RedisEventLogStats) | undefined;
  readonly closing: boolean;
  /** Consumers connected now, and closed for lagging since start (4408). */
  readonly counters: { consumers: number; tooSlow: number };
  /** Stops the bridge, refuses new publishes, waits for those under way to be on disk. */
  close(): Promise<void>;
}

/**
 * Builds the replay log, image store and job service from the config, and the
 * ComfyUI bridge with its `comfyui:previews` stream when `comfyui` is set.
 */
export async function createGenerationsModule(config: Config, deps: { hub: Hub; encoder: Encoder; logger: FastifyBaseLogger; cluster?: Cluster | undefined }): Promise<GenerationsModule> {
  const { logger, cluster } = deps;
  const dir = resolve(config.imageDir);
  // In a cluster IMAGE_DIR is shared by every node (docs/cluster.md says why not Redis).
  const store = new ImageStore({ dir, retentionMs: config.imageRetention * 3_600_000, shared: cluster !== undefined });
  const events = cluster ? await clusterEvents(config, store, cluster, logger) : await journalEvents(config, store, logger);
  const { log } = events;
  const generations = new Generations(log, store, { writer: events.writer });
  for (const entry of [...log.newest()].reverse()) generations.restore(entry);
  if (cluster) {
    // Jobs created and images announced through other nodes: a producer may go on with a job on any node.
    log.on('append', function logOnAppend(entry) {
      try {
        generations.restore(entry);
      } catch (error) {
        // An event the job registry cannot take costs that job on this node, never the process.
        logger.warn({ err: error, event: entry.id }, 'generation event: job state not restored');
      }
    });
    events.follow?.();
  }
  if (!config.producerToken) logger.info('publishing is off: set PRODUCER_TOKEN to accept images from producers');

  let bridge: ComfyUiBridge | undefined;
  if (config.comfyui) {
    const previews = new PushSource();
    deps.hub.add(new Stream(COMFYUI_PREVIEWS, previews, deps.encoder, { idleGraceMs: config.idleGrace * 1000, label: 'COMFYUI PREVIEWS' }));
    bridge = new ComfyUiBridge({
      url: config.comfyui,
      generations,
      previews,
      log: { info: (msg) => logger.info(msg), warn: (obj, msg) => logger.warn(obj, msg) },
    });
    bridge.on('error', function bridgeOnError(error) {
      logger.warn({ err: error }, 'ComfyUI bridge');
    });
    bridge.start();
  }

  const pruneTimer = setInterval(() => void store.prune().catch((error: unknown) => logger.warn({ err: error }, 'image pruning failed')), 60_000);
  pruneTimer.unref();

  let closing = false;
  return {
    generations,
    log,
    store,
    wire: new GenerationMessages(store),
    maxLag: config.replaySize - Math.max(1, Math.floor(config.replaySize / 10)),
    bridge,
    clusterEvents: events.stats,
    counters: { consumers: 0, tooSlow: 0 },
    get closing() {
      return closing;
    },
    async close() {
      closing = true;
      clearInterval(pruneTimer);
      await bridge?.stop();
      await generations.close();
      await events.close();
    },
  };
}

interface EventSource {
  log: EventLog<GenerationEvent>;
  writer: EventWriter;
  /** Starts taking in other nodes' events (a cluster), once the job service listens to the log. */
  follow?: () => void;
  stats?: () => RedisEventLogStats;
  close(): Promise<void>;
}

/** A single node: the log from the journal on disk, each event written and synced there first. */
async function journalEvents(config: Config, store: ImageStore, logger: FastifyBaseLogger): Promise<EventSource> {
  const log = await loadLog(config, store, logger);
  const journal = new EventJournal<GenerationEvent>(log, {
    path: join(resolve(config.imageDir), EVENT_JOURNAL),
    slack: config.replaySize + 64,
    onCompactError: (error) => logger.warn({ err: error }, 'could not compact the event journal'),
  });
  await journal.start();
  return { log, writer: journal, close: () => journal.close() };
}

/**
 * A cluster node: the log filled from the Redis Stream every node appends to (ids from Redis);
 * no journal, the images' sidecars are read for the gallery only.
 */
async function clusterEvents(config: Config, store: ImageStore, cluster: Cluster, logger: FastifyBaseLogger): Promise<EventSource> {
  await store.load();
  const log = new EventLog<GenerationEvent>({ maxEntries: config.replaySize, maxAgeMs: config.replayAge * 1000 });
  const reader = await cluster.connect('framehub-generations');
  let unshared = false;
  const redisLog = new RedisEventLog({
    redis: cluster.redis,
    reader,
    log,
    prepare: async (entry) => {
      const ready = await withStoredImage(entry, store, false);
      if (ready.event.kind === 'image' && !store.get(ready.event.image.name) && !unshared) {
        unshared = true;
        logger.warn(`image ${ready.event.image.name} announced by another node is not in ${store.dir}: every node of a cluster needs the same IMAGE_DIR (a shared volume)`);
      }
      return ready;
    },
    warn: (object, message) => logger.warn(object, message),
  });
  try {
    await redisLog.load();
  } catch (error) {
    await redisLog.close();
    throw error;
  }
  if (log.size > 0) logger.info(`cluster: ${log.size} generation event(s) loaded from Redis, ids continue after ${log.lastId}`);
  return { log, writer: redisLog, follow: () => redisLog.follow(), stats: () => redisLog.stats(), close: () => redisLog.close() };
}

/**
 * The replay log as the journal left it: its live entries (image events pointing at the store's
 * own records), ids continuing after the newest one the journal or a sidecar knows, so a
 * client's `?since=` from before a restart stays meaningful and no id is used twice.
 */
async function loadLog(config: Config, store: ImageStore, logger: FastifyBaseLogger): Promise<EventLog<GenerationEvent>> {
  const newestSidecarId = await store.load();
  const saved = await EventJournal.read<GenerationEvent>(join(resolve(config.imageDir), EVENT_JOURNAL));
  if (saved.skipped > 0) logger.warn(`event journal: skipped ${saved.skipped} unreadable line(s) (a write cut short by a crash)`);
  // Sidecars newer than the journal mean it is older than the images (deleted, restored from a
  // backup), a header past the last entry that entries are missing: replay nothing then, but
  // continue after the newest id either knows.
  const entries = newestSidecarId > saved.lastId || (saved.entries.at(-1)?.id ?? saved.lastId) < saved.lastId ? [] : saved.entries;
  const lastId = Math.max(newestSidecarId, saved.lastId);
  const log = new EventLog<GenerationEvent>({
    maxEntries: config.replaySize,
    maxAgeMs: config.replayAge * 1000,
    lastId: entries.length > 0 ? entries[0]!.id - 1 : lastId,
  });
  for (const entry of entries) log.add(await withStoredImage(entry, store));
  if (entries.length > 0) logger.info(`event journal: ${entries.length} event(s) restored, ids continue after ${log.lastId}`);
  return log;
}

/** An image event read back from disk, pointing at the store's record (which `store.read` requires). */
async function withStoredImage(entry: LogEntry<GenerationEvent>, store: ImageStore, record = true): Promise<GenerationEntry> {
  const { event } = entry;
  if (event.kind !== 'image') return entry;
  const image = await store.adopt(event.image, entry.id, { record });
  return image ? { ...entry, event: { ...event, image } } : entry;
}
