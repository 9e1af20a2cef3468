import type { Encoder } from '../hub/encoder.js';
import { Stream } from '../hub/stream.js';
import { RemoteSessionSource } from './remote-session-source.js';
import type { RedisClient } from './redis-connection.js';
import type { SessionDirectory, SessionPlace } from './session-directory.js';

/** `session:` (sessions/session-registry.ts's SESSION_STREAM_PREFIX; cluster/ does not import sessions/). */
const SESSION_STREAM_PREFIX = 'session:';

export interface RemoteSessionsOptions {
  directory: SessionDirectory;
  subscriber: RedisClient;
  encoder: Encoder;
  idleGraceMs: number;
  /** Whether `id` is a session of this node (those resolve through the registry, never here). */
  isLocal: (id: string) => boolean;
}

/**
 * The streams of browser sessions run by other nodes, one per session watched here: a hub
 * resolver for `session:<id>` ids the local registry does not hold. Each stream carries the
 * session's owner from the directory, so `reaches()` refuses another owner's viewer here as on
 * the session's own node. A stream ends (its viewers told why) when the directory says the
 * session is gone, and is then forgotten, so a new session under the id gets a new stream.
 */
export class RemoteSessions {
  readonly #streams = new Map<string, { stream: Stream; source: RemoteSessionSource; place: SessionPlace }>();

  constructor(private readonly options: RemoteSessionsOptions) {
    options.directory.on('session:gone', this.#directoryOnGone);
  }

  /** For `hub.addResolver`, after the registry's. */
  resolveStream = (streamId: string): Stream | undefined => {
    if (!streamId.startsWith(SESSION_STREAM_PREFIX)) return undefined;
    const id = streamId.slice(SESSION_STREAM_PREFIX.length);
    if (this.options.isLocal(id)) return undefined;
    const place = this.options.directory.place(id);
    if (!place) return undefined;
    const known = this.#streams.get(id);
    if (known && known.place.node === place.node && known.stream.state !== 'ended') return known.stream;
    if (known) this.#forget(id, 'session moved');
    const source = new RemoteSessionSource({ streamId, subscriber: this.options.subscriber, onFollow: () => this.options.directory.watch(id) });
    const stream = new Stream(streamId, source, this.options.encoder, { idleGraceMs: this.options.idleGraceMs, label: id, ...(place.owner !== undefined && { owner: place.owner }) });
    this.#streams.set(id, { stream, source, place });
    return stream;
  };

  /** The session behind a stream resolved here: where its input goes. */
  sessionOf(stream: Stream): { id: string; place: SessionPlace } | undefined {
    if (!stream.id.startsWith(SESSION_STREAM_PREFIX)) return undefined;
    const id = stream.id.slice(SESSION_STREAM_PREFIX.length);
    const known = this.#streams.get(id);
    return known?.stream === stream ? { id, place: known.place } : undefined;
  }

  async close(): Promise<void> {
    this.options.directory.off('session:gone', this.#directoryOnGone);
    const all = [...this.#streams.values()];
    this.#streams.clear();
    await Promise.all(all.map(({ stream }) => stream.close()));
  }

  #forget(id: string, why: string): void {
    const known = this.#streams.get(id);
    if (!known) return;
    this.#streams.delete(id);
    known.source.end(why);
    void known.stream.close().catch(() => undefined);
  }

  readonly #directoryOnGone = ({ id, why }: { id: string; why: string }): void => {
    this.#forget(id, why);
  };
}
