import type { Server as SocketIoServer, Socket } from 'socket.io';
import type { Session } from '../sessions/session.js';
import { ControlError, ControlEvent, type Actor, type ControlEvents } from '../sessions/session-control.js';
import { PresenceEvent, type PointerPosition, type Viewer } from '../sessions/presence.js';
import { ControlServerEvent, pointerPosition, type ControlAcknowledged, type ControlCommand } from '../protocols/socket-io-control.js';
import { ErrorCode } from '../wire/errors.js';

/** One entry of `presence` (Socket.IO) and `GET /api/session/:id/presence`. */
export interface PresenceEntry {
  id: string;
  name: string;
  /** ms since the epoch. */
  since: number;
  role: 'controller' | 'viewer';
}

/** Everyone watching `session`, with who of them controls. */
export function presenceOf(session: Session): PresenceEntry[] {
  const controller = session.control.controllerId;
  return session.presence.list().map((viewer) => ({ ...viewer, role: viewer.id === controller ? 'controller' : 'viewer' }));
}

const rooms = new WeakMap<Session, SessionRoom>();
/**
 * `presence` broadcasts go out at most this often, ms: the list grows with the viewers and goes to
 * each of them, so a client churning subscribe/unsubscribe must not make every join cost O(n²).
 */
const PRESENCE_INTERVAL_MS = 200;
let roomCount = 0;

/**
 * A browser session's Socket.IO room: its control and presence changes go to every socket
 * watching it as one broadcast (socket.io encodes the packet once for all of them). `local`:
 * a session lives on one node, so its room never needs the cluster adapter's round trip.
 */
class SessionRoom {
  /** Unique per session object: a deleted session's id may be taken again by a new one. */
  readonly name: string;
  /** The controller the last `presence` showed. */
  #controller: string | undefined;
  #presenceTimer: ReturnType<typeof setTimeout> | undefined;
  #lastPresence = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly io: SocketIoServer,
    private readonly session: Session,
  ) {
    this.name = `framehub:session:${++roomCount}:${session.id}`;
    session.control.on(ControlEvent.Changed, this.#controlOnChanged);
    session.presence.on(PresenceEvent.Changed, this.#presenceOnChanged);
    session.presence.on(PresenceEvent.Pointers, this.#presenceOnPointers);
  }

  readonly #controlOnChanged = (state: ControlEvents['changed']): void => {
    this.io.to(this.name).local.emit(ControlServerEvent.State, state);
    // Nothing queued from before sharing went off may go out after it.
    if (!state.pointers) this.session.presence.clearPointers();
    // The controller flag of presence changed with it.
    if (this.#controller !== this.session.control.controllerId) this.#presenceOnChanged();
  };

  /** The first change goes out at once, later ones together after PRESENCE_INTERVAL_MS: the latest list wins. */
  readonly #presenceOnChanged = (): void => {
    if (this.#presenceTimer !== undefined) return;
    const wait = this.#lastPresence + PRESENCE_INTERVAL_MS - performance.now();
    if (wait <= 0) return this.#sendPresence();
    this.#presenceTimer = setTimeout(() => {
      this.#presenceTimer = undefined;
      this.#sendPresence();
    }, wait);
    this.#presenceTimer.unref();
  };

  #sendPresence(): void {
    this.#lastPresence = performance.now();
    this.#controller = this.session.control.controllerId;
    this.io.to(this.name).local.emit(ControlServerEvent.Presence, { viewers: presenceOf(this.session) });
  }

  // Volatile: a socket that cannot take a batch now skips it; the next one carries the latest positions.
  readonly #presenceOnPointers = (pointers: readonly PointerPosition[]): void => {
    this.io.to(this.name).local.volatile.emit(ControlServerEvent.Pointers, { pointers });
  };
}

/**
 * One socket watching one browser session: it is in the session's presence and room, may ask for
 * control, and its input counts as the controller's only while it holds control.
 */
export class Participant {
  readonly viewer: Viewer;
  readonly #room: SessionRoom;

  constructor(
    io: SocketIoServer,
    private readonly socket: Socket,
    readonly session: Session,
    name: string | undefined,
  ) {
    let room = rooms.get(session);
    if (!room) rooms.set(session, (room = new SessionRoom(io, session)));
    this.#room = room;
    // Joined after the others hear of it: this socket gets its own, complete picture below.
    this.viewer = session.presence.join(name);
    socket.join(room.name);
    session.control.on(ControlEvent.Denied, this.#controlOnDenied);
    socket.emit(ControlServerEvent.You, { id: this.viewer.id, name: this.viewer.name });
    socket.emit(ControlServerEvent.State, session.control.state);
    socket.emit(ControlServerEvent.Presence, { viewers: presenceOf(session) });
  }

  readonly #controlOnDenied = ({ holder, by }: ControlEvents['denied']): void => {
    if (holder.id === this.viewer.id && this.socket.connected) this.socket.emit(ControlServerEvent.Denied, { by });
  };

  /** Whether this socket's input may reach the page now. */
  mayInput(): boolean {
    return this.session.control.mayInput(this.viewer.id);
  }

  /** Its input reached the page: as controller it is not idle. */
  touch(): void {
    this.session.control.touch(this.viewer.id);
  }

  /** Performs a control action (the caller checked the token may drive the session); throws a ControlError when refused. */
  act(command: Extract<ControlCommand, { type: 'control' }>, admin: boolean): ControlAcknowledged {
    const control = this.session.control;
    const actor: Actor = { id: this.viewer.id, name: this.viewer.name, admin };
    switch (command.action) {
      case 'request':
        return { action: 'request', result: control.request(actor) };
      case 'grant':
        control.grant(actor, command.target);
        break;
      case 'deny':
        control.deny(actor, command.target);
        break;
      case 'release':
        control.release(actor);
        break;
      case 'take':
        control.take(actor);
        break;
      case 'pointers':
        control.setPointers(actor, command.enabled);
        return { action: 'pointers', result: command.enabled ? 'on' : 'off' };
    }
    return { action: command.action, result: 'done' };
  }

  /** Relays this viewer's pointer while sharing is on; a bad position (checked first, as input is) or sharing off throws. */
  pointer(payload: unknown): void {
    const { x, y } = pointerPosition(payload, this.session.options);
    if (!this.session.control.pointers) {
      throw new ControlError(ErrorCode.PointersOff, 'pointer:move refused: pointers are not shared in this session now (the controller turns them on with pointer:share)');
    }
    this.session.presence.pointer(this.viewer.id, x, y);
  }

  /** Unsubscribed or disconnected: its control passes on, and the others hear it left. Safe to call twice. */
  leave(): void {
    this.session.control.off(ControlEvent.Denied, this.#controlOnDenied);
    void this.socket.leave(this.#room.name);
    this.session.control.leave(this.viewer.id);
    this.session.presence.leave(this.viewer.id);
  }
}
