import { Source } from '../sources/source.js';
import { decodeFrameMessage } from './frame-message.js';
import { framesChannel } from './keys.js';
import type { RedisClient } from './redis-connection.js';

export interface RemoteSessionSourceOptions {
  /** `session:<id>` */
  streamId: string;
  /** The node's one subscriber connection, shared with every stream it follows. */
  subscriber: RedisClient;
  /** Asks the session's node to start publishing now rather than at its next check. */
  onFollow: () => void;
}

/**
 * A browser session run by another node, as a source on this one: the frames its node publishes
 * to Redis (session-relay.ts), received once per node however many viewers it has here, like a
 * configured stream's follower. Its Chromium is elsewhere, so it has nothing to restart: when
 * the session ends there (or its node dies) `end()` ends the stream for its viewers here.
 */
export class RemoteSessionSource extends Source {
  readonly kind = 'remote-session';
  readonly #channel: string;
  #following = false;
  #ended = false;

  constructor(private readonly options: RemoteSessionSourceOptions) {
    super();
    this.#channel = framesChannel(options.streamId);
  }

  async start(): Promise<void> {
    if (this.#following || this.#ended) return;
    this.#following = true;
    await this.options.subscriber.subscribe(this.#channel, this.#remoteOnFrame, true);
    this.options.onFollow();
  }

  async stop(): Promise<void> {
    if (!this.#following) return;
    this.#following = false;
    if (this.options.subscriber.isReady) await this.options.subscriber.unsubscribe(this.#channel, this.#remoteOnFrame, true);
  }

  /** The session is gone: its viewers here hear `why` as the end of the stream. */
  end(why: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit('exit', { error: new Error(why), restartable: false });
    void this.stop().catch(() => undefined);
  }

  readonly #remoteOnFrame = (message: Buffer): void => {
    if (!this.#following) return;
    const frame = decodeFrameMessage(message);
    if (frame) this.emit('frame', frame);
  };
}
