import { randomBytes } from 'node:crypto';
import { TypedEmitter } from '../util/typed-emitter.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** One client watching a session. */
export interface Viewer {
  /** Public id: what grant and deny name, and what pointer positions carry. */
  readonly id: string;
  /** The name the client gave on subscribe, or `viewer <n>`. */
  readonly name: string;
  /** When it joined, ms since the epoch. */
  readonly since: number;
}

/** Where a viewer's pointer is, in page CSS pixels. */
export interface PointerPosition {
  id: string;
  x: number;
  y: number;
}

export const PresenceEvent = {
  Changed: 'changed',
  Pointers: 'pointers',
} as const;

export interface PresenceEvents {
  /** Someone joined or left: everyone watching, oldest first. */
  [PresenceEvent.Changed]: readonly Viewer[];
  /** The pointers that moved since the last batch, each at its latest position. */
  [PresenceEvent.Pointers]: readonly PointerPosition[];
}

export interface PresenceOptions {
  /** Pointer batches go out at most this often, ms. @default 50 */
  pointerIntervalMs?: number;
  /** Timers for the pointer batches (a fake in tests). @default systemClock */
  clock?: Clock;
  /** Wall clock for `since`, ms since the epoch. @default Date.now */
  now?: () => number;
  /** Where a listener's throw goes (the server's log): never back into the join or move that emitted. @default ignore */
  onListenerError?: (error: unknown) => void;
}

/**
 * Who watches one session, and the pointer relay between them. Pointer positions are latest-wins
 * per viewer and sent as one batch at most every `pointerIntervalMs`: what waits is bounded by
 * the number of viewers, however fast anyone moves.
 */
export class Presence extends TypedEmitter<PresenceEvents> {
  readonly options: Readonly<Required<PresenceOptions>>;
  readonly #viewers = new Map<string, Viewer>();
  readonly #pending = new Map<string, PointerPosition>();
  #timer: TimerHandle | undefined;
  #lastBatch = Number.NEGATIVE_INFINITY;
  #joined = 0;
  /** Positions replaced before their batch went out: what the relay dropped. */
  #dropped = 0;

  constructor(options: PresenceOptions = {}) {
    super();
    this.options = {
      pointerIntervalMs: options.pointerIntervalMs ?? 50,
      clock: options.clock ?? systemClock,
      now: options.now ?? Date.now,
      onListenerError: options.onListenerError ?? (() => {}),
    };
  }

  /** A throwing listener must not break the join or move that emitted (nor, from a timer, the process). */
  protected override onListenerError(error: unknown): void {
    this.options.onListenerError(error);
  }

  get size(): number {
    return this.#viewers.size;
  }

  /** Pointer positions overwritten by a newer one before they were sent. */
  get droppedPointers(): number {
    return this.#dropped;
  }

  list(): Viewer[] {
    return [...this.#viewers.values()];
  }

  get(id: string): Viewer | undefined {
    return this.#viewers.get(id);
  }

  /** Adds a viewer under `name` (checked by the transport's codec), or `viewer <n>`. */
  join(name: string | undefined): Viewer {
    this.#joined++;
    const viewer: Viewer = { id: randomBytes(6).toString('base64url'), name: name?.trim() ?? `viewer ${this.#joined}`, since: this.options.now() };
    this.#viewers.set(viewer.id, viewer);
    this.emit(PresenceEvent.Changed, this.list());
    return viewer;
  }

  leave(id: string): void {
    if (!this.#viewers.delete(id)) return;
    this.#pending.delete(id);
    this.emit(PresenceEvent.Changed, this.list());
  }

  /** Relays `id`'s pointer (coordinates checked by the caller), in the next batch. */
  pointer(id: string, x: number, y: number): void {
    if (!this.#viewers.has(id)) return;
    if (this.#pending.has(id)) this.#dropped++;
    this.#pending.set(id, { id, x, y });
    if (this.#timer !== undefined) return;
    const wait = this.#lastBatch + this.options.pointerIntervalMs - this.options.clock.now();
    if (wait <= 0) return this.#flush();
    this.#timer = this.options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  /** Drops the positions not sent yet: sharing was turned off. */
  clearPointers(): void {
    this.#pending.clear();
    this.#stopTimer();
  }

  close(): void {
    this.clearPointers();
    this.#viewers.clear();
  }

  #flush(): void {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    this.#lastBatch = this.options.clock.now();
    this.emit(PresenceEvent.Pointers, batch);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) this.options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
