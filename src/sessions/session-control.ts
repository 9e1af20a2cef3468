import { randomBytes } from 'node:crypto';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { TypedEmitter } from '../util/typed-emitter.js';

/**
 * `open`: nobody asked for control yet, and every client the access model lets drive the session
 * may send input (seeds/003). `exclusive`: from the first request or take on, only the controller
 * may; the session never goes back to open (a release must not hand the page to everyone).
 */
export type ControlMode = 'open' | 'exclusive';

/** Someone who may hold control: a Socket.IO viewer (its presence id) or a REST script. */
export interface Holder {
  /** Public: shown to every viewer, named by grant and deny. */
  readonly id: string;
  readonly name: string;
}

/** Who acts, as the transport identified them; `admin` is the token's scope, checked by the caller. */
export interface Actor extends Holder {
  readonly admin: boolean;
}

/** What every viewer is told. */
export interface ControlState {
  mode: ControlMode;
  controller: Holder | null;
  /** When the controller got control, ms since the epoch; `null` without one. */
  since: number | null;
  /** Requests waiting for the controller's (or an admin's) answer, oldest first. */
  requests: Holder[];
  /** Whether viewers' pointers are relayed to each other (the controller decides). */
  pointers: boolean;
  /** Seconds the controller must be idle before anyone who may drive the session can take control; 0 = only an admin. */
  idle_take_after: number;
}

export type RequestResult = 'granted' | 'pending';

export const ControlEvent = {
  Changed: 'changed',
  Denied: 'denied',
} as const;

export interface ControlEvents {
  /** Emitted once per actual change (a no-op action emits nothing). */
  [ControlEvent.Changed]: ControlState;
  /** A request was turned down: the transports tell the one who asked. */
  [ControlEvent.Denied]: { holder: Holder; by: Holder };
}

/** A control action refused: who may do what, or whom it names. */
export class ControlError extends FramehubError {
  override readonly name = 'ControlError';
}

export interface ControlOptions {
  /** ms the controller must be idle before a non-admin may take control; 0 = never. @default 60000 */
  idleMs?: number;
  /** Wall clock, ms since the epoch (injectable for tests). @default Date.now */
  now?: () => number;
  /** Where a listener's throw goes (the server's log): never back into the action that emitted. @default ignore */
  onListenerError?: (error: unknown) => void;
}

/**
 * Requests waiting at once, at most: each one is a holder the session remembers (a REST script's
 * key among them), and a flood of requests must not grow that without bound.
 */
export const MAX_REQUESTS = 32;

/**
 * One session's control: open until someone asks, then at most one controller. Grant and deny
 * are the controller's (or an admin's); release, and the controller leaving, pass control to
 * the oldest waiting request, or to nobody. Take is an admin's, or anyone's once the controller
 * has been idle for `idleMs`. Pure state: the transports check the token's scopes and wire the
 * events to their clients.
 */
export class SessionControl extends TypedEmitter<ControlEvents> {
  readonly options: Readonly<Required<ControlOptions>>;
  #mode: ControlMode = 'open';
  #controller: Holder | undefined;
  #since = 0;
  #lastActive = 0;
  /** Insertion order is request order: the oldest is handed control first. */
  readonly #requests = new Map<string, Holder>();
  #pointers = false;
  /** REST scripts' secret keys → their holder, only while they control or wait (pruned in #commit). */
  readonly #keys = new Map<string, Holder>();
  #scripts = 0;
  /** The last state emitted, to skip no-op changes. */
  #emitted = '';

  constructor(options: ControlOptions = {}) {
    super();
    this.options = { idleMs: options.idleMs ?? 60_000, now: options.now ?? Date.now, onListenerError: options.onListenerError ?? (() => {}) };
    this.#emitted = JSON.stringify(this.state);
  }

  /** A listener that throws must not reach the action that changed the state (the transports' handlers). */
  protected override onListenerError(error: unknown): void {
    this.options.onListenerError(error);
  }

  get state(): ControlState {
    return {
      mode: this.#mode,
      controller: this.#controller ? { id: this.#controller.id, name: this.#controller.name } : null,
      since: this.#controller ? this.#since : null,
      requests: [...this.#requests.values()].map(({ id, name }) => ({ id, name })),
      pointers: this.#pointers,
      idle_take_after: Math.round(this.options.idleMs / 1000),
    };
  }

  /** Whether viewers' pointers are relayed now. */
  get pointers(): boolean {
    return this.#pointers;
  }

  get controllerId(): string | undefined {
    return this.#controller?.id;
  }

  /** Whether input from `id` may reach the page: anyone's while open, the controller's only after. */
  mayInput(id: string | undefined): boolean {
    return this.#mode === 'open' || (id !== undefined && this.#controller?.id === id);
  }

  /** The controller did something: the idle clock starts again. */
  touch(id: string | undefined): void {
    if (id !== undefined && this.#controller?.id === id) this.#lastActive = this.options.now();
  }

  /** Control at once when nobody holds it; otherwise a request the controller answers. */
  request(actor: Actor): RequestResult {
    this.#mode = 'exclusive';
    if (this.#controller?.id === actor.id) {
      this.touch(actor.id);
      this.#commit();
      return 'granted';
    }
    if (!this.#controller) {
      this.#requests.delete(actor.id);
      this.#hand(actor);
      return 'granted';
    }
    if (!this.#requests.has(actor.id)) {
      if (this.#requests.size >= MAX_REQUESTS) {
        throw new ControlError(ErrorCode.RateLimited, `control:request refused: ${MAX_REQUESTS} requests are waiting already`);
      }
      this.#requests.set(actor.id, { id: actor.id, name: actor.name });
    }
    this.#commit();
    return 'pending';
  }

  /** Hands control to `targetId`, who must have asked; the controller's or an admin's call. */
  grant(actor: Actor, targetId: string): void {
    this.#mustAnswer(actor, 'grant');
    const target = this.#waiting(targetId, 'grant');
    this.#requests.delete(targetId);
    this.#hand(target);
  }

  /** Turns down `targetId`'s request; the controller's or an admin's call. */
  deny(actor: Actor, targetId: string): void {
    this.#mustAnswer(actor, 'deny');
    const target = this.#waiting(targetId, 'deny');
    this.#requests.delete(targetId);
    this.touch(actor.id);
    this.#commit();
    this.emit(ControlEvent.Denied, { holder: target, by: { id: actor.id, name: actor.name } });
  }

  /** The controller gives control up (to the oldest request); a waiting client withdraws its request. */
  release(actor: Actor): void {
    if (this.#requests.delete(actor.id)) return this.#commit();
    if (this.#controller?.id !== actor.id) {
      throw new ControlError(ErrorCode.ControlRequired, 'control:release refused: you do not hold control of this session');
    }
    this.#passOn();
  }

  /**
   * Takes control without asking: an admin always, anyone when nobody holds it or the controller
   * has been idle for `idleMs`.
   */
  take(actor: Actor): void {
    this.#mode = 'exclusive';
    if (this.#controller?.id === actor.id) {
      this.touch(actor.id);
      return this.#commit();
    }
    if (this.#controller && !actor.admin) {
      const idle = this.options.now() - this.#lastActive;
      if (this.options.idleMs <= 0 || idle < this.options.idleMs) {
        const after = this.options.idleMs > 0 ? `after ${Math.round(this.options.idleMs / 1000)} s of its inactivity (idle ${Math.floor(idle / 1000)} s now)` : 'only by an admin';
        throw new ControlError(ErrorCode.ControlBusy, `control:take refused: ${this.#controller.name} controls this session; it can be taken ${after}, or asked for with control:request`);
      }
    }
    this.#requests.delete(actor.id);
    this.#hand(actor);
  }

  /** Turns the pointer relay on or off: the controller's or an admin's call (anyone's who may drive, while open). */
  setPointers(actor: Actor, enabled: boolean): void {
    if (this.#mode === 'exclusive' && this.#controller?.id !== actor.id && !actor.admin) {
      throw new ControlError(ErrorCode.ControlRequired, 'pointer:share refused: only the controller (or an admin) shares pointers');
    }
    this.#pointers = enabled;
    this.touch(actor.id);
    this.#commit();
  }

  /** `id` went away (a viewer unsubscribed or disconnected): its request goes, its control passes on. */
  leave(id: string): void {
    if (this.#controller?.id === id) return this.#passOn();
    if (this.#requests.delete(id)) this.#commit();
  }

  /**
   * A REST script's identity: its secret key (sent back as `X-Control-Holder`) and public holder.
   * Only the key proves who it is, as the public id is shown to every viewer.
   */
  newScript(name: string | undefined): { key: string; holder: Holder } {
    const holder: Holder = { id: randomBytes(6).toString('base64url'), name: name ?? `script ${++this.#scripts}` };
    const key = randomBytes(18).toString('base64url');
    this.#keys.set(key, holder);
    return { key, holder };
  }

  /** The script holder behind `key`, while it controls or waits. */
  scriptOf(key: string): Holder | undefined {
    return this.#keys.get(key);
  }

  /** Forgets a script identity made for a call that did not leave it controlling or waiting. */
  prune(): void {
    for (const [key, holder] of this.#keys) {
      if (this.#controller?.id !== holder.id && !this.#requests.has(holder.id)) this.#keys.delete(key);
    }
  }

  #mustAnswer(actor: Actor, action: string): void {
    if (!actor.admin && this.#controller?.id !== actor.id) {
      throw new ControlError(ErrorCode.ControlRequired, `control:${action} refused: only the controller (or an admin) answers requests`);
    }
  }

  #waiting(id: string, action: string): Holder {
    const holder = this.#requests.get(id);
    if (!holder) throw new ControlError(ErrorCode.HolderNotFound, `control:${action} refused: ${JSON.stringify(id.slice(0, 64))} has not asked for control`);
    return holder;
  }

  #passOn(): void {
    const next = this.#requests.values().next();
    if (next.done) {
      this.#controller = undefined;
      this.#commit();
      return;
    }
    this.#requests.delete(next.value.id);
    this.#hand(next.value);
  }

  #hand(holder: Holder): void {
    this.#controller = { id: holder.id, name: holder.name };
    this.#since = this.options.now();
    this.#lastActive = this.#since;
    this.#commit();
  }

  /** The one place state changes are announced: once, and only when something changed. */
  #commit(): void {
    this.prune();
    const state = this.state;
    const text = JSON.stringify(state);
    if (text === this.#emitted) return;
    this.#emitted = text;
    this.emit(ControlEvent.Changed, state);
  }
}
