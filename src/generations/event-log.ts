import { TypedEmitter } from '../util/typed-emitter.js';

/** One event with its id and the wall-clock time it was appended. */
export interface LogEntry<T> {
  readonly id: number;
  /** ms since the epoch. */
  readonly at: number;
  readonly event: T;
}

export interface EventLogOptions {
  /** Entries kept at most; the oldest go first. */
  maxEntries: number;
  /** Entries older than this are dropped (0 = no age limit). */
  maxAgeMs: number;
  /** Ids continue after this one (e.g. the newest id found on disk after a restart). @default 0 */
  lastId?: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
}

export interface EventLogEvents<T> {
  append: LogEntry<T>;
}

/**
 * The bounded replay log: every event gets the next id (1, 2, 3, … with no holes), and the
 * newest `maxEntries` (younger than `maxAgeMs`) stay readable, so a client that reconnects
 * with the last id it saw can be sent exactly what it missed. Entries are never copied per
 * client: each client only holds a cursor (the last id it was sent).
 */
export class EventLog<T> extends TypedEmitter<EventLogEvents<T>> {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly #now: () => number;
  #entries: LogEntry<T>[] = [];
  /** Index of the oldest live entry in #entries; shifting an array per eviction would be O(n). */
  #head = 0;
  #lastId: number;

  constructor(options: EventLogOptions) {
    super();
    if (!(options.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.maxEntries = options.maxEntries;
    this.maxAgeMs = options.maxAgeMs;
    this.#lastId = options.lastId ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /** Id of the newest event ever appended (0 before the first). */
  get lastId(): number {
    return this.#lastId;
  }

  /** Id of the oldest event still held, or `lastId + 1` when the log is empty. */
  get oldestId(): number {
    this.#evictExpired();
    return this.#entries[this.#head]?.id ?? this.#lastId + 1;
  }

  get size(): number {
    return this.#entries.length - this.#head;
  }

  append(event: T): LogEntry<T> {
    return this.add(this.entry(event));
  }

  /** The entry `append(event)` would add now (the next id, the current time), without adding it. */
  entry(event: T): LogEntry<T> {
    return { id: this.#lastId + 1, at: this.#now(), event };
  }

  /**
   * Adds an entry made elsewhere: by `entry()` before it was written to disk, or read back from
   * disk after a restart. Its id must be the next one, so the log keeps having no holes.
   */
  add(entry: LogEntry<T>): LogEntry<T> {
    if (entry.id !== this.#lastId + 1) throw new RangeError(`event id ${entry.id} does not follow ${this.#lastId}`);
    this.#lastId = entry.id;
    this.#entries.push(entry);
    if (this.size > this.maxEntries) this.#head++;
    this.#evictExpired();
    this.#compact();
    this.emit('append', entry);
    return entry;
  }

  /**
   * Forgets every entry and continues after `lastId`: the events up to it are lost to this log,
   * and a client whose cursor is behind gets a replay gap, never a hole or an id twice. For a
   * log fed from elsewhere (the cluster's Redis stream) that missed events it can no longer read.
   */
  restartAfter(lastId: number): void {
    if (lastId < this.#lastId) throw new RangeError(`event id ${lastId} is behind ${this.#lastId}`);
    this.#entries = [];
    this.#head = 0;
    this.#lastId = lastId;
  }

  /** The entry right after `afterId`, if the log still holds it (ids have no holes). */
  next(afterId: number): LogEntry<T> | undefined {
    const oldest = this.oldestId;
    const id = Math.max(afterId + 1, oldest);
    return this.#entries[this.#head + (id - oldest)];
  }

  /** `true` when events after `afterId` were dropped before a client read them. */
  hasLost(afterId: number): boolean {
    return afterId + 1 < this.oldestId && afterId < this.#lastId;
  }

  /** Newest first, for listings. */
  *newest(): Iterable<LogEntry<T>> {
    for (let i = this.#entries.length - 1; i >= this.#head; i--) yield this.#entries[i]!;
  }

  #evictExpired(): void {
    if (this.maxAgeMs <= 0) return;
    const cutoff = this.#now() - this.maxAgeMs;
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.at < cutoff) this.#head++;
  }

  #compact(): void {
    // Drop evicted slots once they are as many as the live ones: amortised O(1) per append.
    if (this.#head > 64 && this.#head >= this.size) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
