import type { Stream, Subscription } from '../hub/stream.js';
import { deliverFromPromise } from '../hub/subscriber-slot.js';
import { encodeFrameMessage } from './frame-message.js';
import { framesChannel } from './keys.js';
import type { RedisClient } from './redis-connection.js';

/** A browser session running on this node, as the relay sees it. */
export interface RelayedSession {
  id: string;
  stream: Stream;
  fps: number;
}

export interface SessionRelayOptions {
  redis: RedisClient;
  /** The sessions running here now. */
  sessions: () => RelayedSession[];
  /** How often it asks Redis which sessions other nodes follow. @default 1000 */
  checkMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * The owner's half of a session watched on other nodes: while some node subscribes to a local
 * session's frame channel (`PUBSUB NUMSUB`: one subscription per following node), the relay is
 * one subscriber of the session's stream, and publishes each frame it is given once, as a
 * configured stream's owner does. Being a subscriber keeps the screencast running and the
 * session alive (a subscriber is a keepalive) while any node has viewers; the subscriber slot
 * holds one frame while a PUBLISH is in flight, so a slow Redis skips frames, it never queues.
 */
export class SessionRelay {
  readonly #options: Required<Pick<SessionRelayOptions, 'checkMs'>> & SessionRelayOptions;
  readonly #relays = new Map<Stream, Subscription>();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(options: SessionRelayOptions) {
    this.#options = { checkMs: 1000, ...options };
  }

  start(): void {
    this.#timer ??= setInterval(() => this.check(), this.#options.checkMs).unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const subscription of this.#relays.values()) subscription.close();
    this.#relays.clear();
  }

  /** Asks Redis now which local sessions are followed (also called when a node says it started following one). */
  check(): void {
    if (this.#checking) return;
    this.#checking = true;
    this.#check().catch((error: unknown) => this.#options.onError?.(error)).finally(() => (this.#checking = false));
  }

  /**
   * Another node has started following session `id`: relay it from now on, and publish its
   * current frame again, since a page that does not repaint sends no new one and that node's
   * viewers would wait for it (a local subscriber gets the latest frame at once too).
   */
  watched(id: string): void {
    this.check();
    const session = this.#options.sessions().find((s) => s.id === id);
    const latest = session?.stream.latest;
    if (!session || !latest || !this.#relays.has(session.stream)) return;
    this.#options.redis.publish(framesChannel(session.stream.id), encodeFrameMessage(latest)).catch((error: unknown) => this.#options.onError?.(error));
  }

  async #check(): Promise<void> {
    const sessions = this.#options.sessions();
    const live = new Set(sessions.map((session) => session.stream));
    // A closed session's stream has dropped its subscribers; forget it here too.
    for (const [stream, subscription] of this.#relays) {
      if (!live.has(stream)) {
        subscription.close();
        this.#relays.delete(stream);
      }
    }
    if (sessions.length === 0) return;
    const counts = await this.#options.redis.pubSubNumSub(sessions.map((session) => framesChannel(session.stream.id)));
    for (const session of sessions) {
      const followed = Number(counts[framesChannel(session.stream.id)] ?? 0) > 0;
      const relay = this.#relays.get(session.stream);
      if (followed && !relay && session.stream.state !== 'ended') this.#relays.set(session.stream, this.#relay(session));
      else if (!followed && relay) {
        relay.close();
        this.#relays.delete(session.stream);
      }
    }
  }

  #relay(session: RelayedSession): Subscription {
    const channel = framesChannel(session.stream.id);
    return session.stream.subscribe({
      fps: session.fps,
      deliver: deliverFromPromise(async (frame) => {
        const message = encodeFrameMessage(frame);
        await this.#options.redis.publish(channel, message);
        return message.length;
      }),
      onDeliverError: (error) => this.#options.onError?.(error),
    });
  }
}
