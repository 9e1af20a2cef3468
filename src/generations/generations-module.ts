import { resolve } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/config.js';
import type { Encoder } from '../hub/encoder.js';
import type { Hub } from '../hub/hub.js';
import { Stream } from '../hub/stream.js';
import { PushSource } from '../sources/push-source.js';
import { createTokenVerifier, type TokenVerifier } from './auth.js';
import { ComfyUiBridge } from './comfyui-bridge.js';
import { EventLog } from './event-log.js';
import type { GenerationEvent } from './generation-event.js';
import { Generations } from './generations.js';
import { ImageStore } from './image-store.js';
import { WireMessages } from './wire-messages.js';

export const COMFYUI_PREVIEWS = 'comfyui:previews';

/** The generation parts the routes share. */
export interface GenerationsModule {
  readonly generations: Generations;
  readonly log: EventLog<GenerationEvent>;
  readonly store: ImageStore;
  readonly wire: WireMessages;
  /** `undefined` = `/ws` is open. */
  readonly verifier: TokenVerifier | undefined;
  /** Unsent events a consumer may lag behind before it is closed with 4408 (below the log size, see EventFeed). */
  readonly maxLag: number;
  readonly bridge: ComfyUiBridge | undefined;
  readonly closing: boolean;
  /** Consumers connected now, and closed for lagging since start (4408). */
  readonly counters: { consumers: number; tooSlow: number };
  close(): Promise<void>;
}

/**
 * Builds the replay log, image store, job service and token verifier from the config, and the
 * ComfyUI bridge with its `comfyui:previews` stream when `comfyui` is set.
 */
export async function createGenerationsModule(config: Config, deps: { hub: Hub; encoder: Encoder; logger: FastifyBaseLogger }): Promise<GenerationsModule> {
  const { logger } = deps;
  const store = new ImageStore({ dir: resolve(config.imageDir), retentionMs: config.imageRetention * 3_600_000 });
  // Ids continue after the newest one on disk, so a client's ?since= from before a restart stays meaningful.
  const lastId = await store.load();
  const log = new EventLog<GenerationEvent>({ maxEntries: config.replaySize, maxAgeMs: config.replayAge * 1000, lastId });
  const generations = new Generations(log, store);
  const verifier = createTokenVerifier({ jwtSecret: config.jwtSecret, jwksUrl: config.jwksUrl });
  if (!verifier) logger.warn('/ws is open: set JWT_SECRET or JWKS_URL to require tokens');
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
    wire: new WireMessages(store),
    verifier,
    maxLag: config.replaySize - Math.max(1, Math.floor(config.replaySize / 10)),
    bridge,
    counters: { consumers: 0, tooSlow: 0 },
    get closing() {
      return closing;
    },
    async close() {
      closing = true;
      clearInterval(pruneTimer);
      await bridge?.stop();
    },
  };
}
