import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { Stream, StreamStats } from './stream.js';

/**
 * Finds or creates a stream for an id the static table does not hold (e.g. a window id).
 * `undefined` means the id is not this resolver's; a resolver that owns the id but cannot open
 * a stream for it now throws a StreamUnavailableError.
 */
export type StreamResolver = (id: string) => Stream | undefined;

/**
 * What watching a stream id takes (a `view:…` need, see server/access.ts) for ids watched on
 * other terms than their own `view:<id>`: a recording's playback takes what its download takes.
 * `undefined` means the id is not this one's.
 */
export type ViewNeed = (id: string) => string | undefined;

/** The id is valid, but its stream cannot be opened now (a limit is reached); try again later. */
export class StreamUnavailableError extends FramehubError {
  override readonly name = 'StreamUnavailableError';
  constructor(message: string) {
    super(ErrorCode.StreamUnavailable, message);
  }
}

/** Stream ids: letters, digits and `_ . : -`, up to 128 characters. */
export const STREAM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * The registry of streams. Id `0` is the primary stream (the desktop once screen capture is
 * on, the default stream until then). Later capabilities add resolvers for ids they own.
 */
export class Hub {
  readonly #streams = new Map<string, Stream>();
  readonly #resolvers: StreamResolver[] = [];
  readonly #viewNeeds: ViewNeed[] = [];

  constructor(private primaryId: string) {}

  add(stream: Stream): void {
    if (this.#streams.has(stream.id)) throw new Error(`stream ${stream.id} already exists`);
    this.#streams.set(stream.id, stream);
  }

  remove(id: string): Stream | undefined {
    const stream = this.#streams.get(id);
    this.#streams.delete(id);
    return stream;
  }

  addResolver(resolver: StreamResolver): void {
    this.#resolvers.push(resolver);
  }

  addViewNeed(viewNeed: ViewNeed): void {
    this.#viewNeeds.push(viewNeed);
  }

  /** What watching `id` takes: `view:<id>` unless a ViewNeed says otherwise. Asked before the id is resolved. */
  viewNeed(id: string): string {
    for (const viewNeed of this.#viewNeeds) {
      const need = viewNeed(id);
      if (need !== undefined) return need;
    }
    return `view:${id}`;
  }

  setPrimary(id: string): void {
    this.primaryId = id;
  }

  get primary(): string {
    return this.primaryId;
  }

  /** The stream for a client-supplied id, or `undefined`; throws StreamUnavailableError (see StreamResolver). */
  resolve(id: string): Stream | undefined {
    if (!STREAM_ID.test(id)) return undefined;
    const key = id === '0' ? this.primaryId : id;
    const known = this.#streams.get(key);
    if (known) return known;
    for (const resolver of this.#resolvers) {
      const stream = resolver(key);
      if (stream) return stream;
    }
    return undefined;
  }

  list(): Stream[] {
    return [...this.#streams.values()];
  }

  stats(): StreamStats[] {
    return this.list().map((stream) => stream.stats());
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((stream) => stream.close()));
  }
}
