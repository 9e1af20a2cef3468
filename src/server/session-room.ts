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
 * the session's own sockets need no cluster adapter's round trip. In a cluster, while sockets of
 * other nodes take part (visiting-participants.ts), each change also goes once through the
 * adapter to the cluster-wide room those sockets joined on their nodes.
 */
export class SessionRoom {
  /** Unique per session object: a deleted session's id may be taken again by a new one. */
  readonly name: string;
  /** The controller the last `presence` showed. */
  #controller: string | undefined;
  #presenceTimer: ReturnType<typeof setTimeout> | undefined;
  #lastPresence = Number.NEGATIVE_INFINITY;
  /** The cluster-wide room of other nodes' participants, while there are any. */
  #shared: string | undefined;

  constructor(
    private readonly io: SocketIoServer,
    private readonly session: Session,
  ) {
    this.name = `framehub:session:${++roomCount}:${session.id}`;
    session.control.on(ControlEvent.Changed, this.#controlOnChanged);
    session.presence.on(PresenceEvent.Changed, this.#presenceOnChanged);
    session.presence.on(PresenceEvent.Pointers, this.#presenceOnPointers);
  }

  /** Broadcasts to other nodes' participants through the cluster adapter too (`undefined`: stop). */
  share(clusterRoom: string | undefined): void {
    this.#shared = clusterRoom;
  }

  #broadcast(event: string, payload: object, volatile = false): void {
    (volatile ? this.io.to(this.name).local.volatile : this.io.to(this.name).local).emit(event, payload);
    if (this.#shared !== undefined) (volatile ? this.io.to(this.#shared).volatile : this.io.to(this.#shared)).emit(event, payload);
  }

  readonly #controlOnChanged = (state: ControlEvents['changed']): void => {
    this.#broadcast(ControlServerEvent.State, state);
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
    this.#broadcast(ControlServerEvent.Presence, { viewers: presenceOf(this.session) });
  }

  // Volatile: a socket that cannot take a batch now skips it; the next one carries the latest positions.
  readonly #presenceOnPointers = (pointers: readonly PointerPosition[]): void => {
    this.#broadcast(ControlServerEvent.Pointers, { pointers }, true);
  };
}

/** The session's room, made on first use (a local socket's subscribe, or another node's participant). */
export function roomOf(io: SocketIoServer, session: Session): SessionRoom {
  let room = rooms.get(session);
  if (!room) rooms.set(session, (room = new SessionRoom(io, session)));
  return room;
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
    const room = roomOf(io, session);
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
    return actAs(this.session, this.viewer, command, admin);
  }

  /** Relays this viewer's pointer while sharing is on; a bad position (checked first, as input is) or sharing off throws. */
  pointer(payload: unknown): void {
    pointerOf(this.session, this.viewer, payload);
  }

  /** Unsubscribed or disconnected: its control passes on, and the others hear it left. Safe to call twice. */
  leave(): void {
    this.session.control.off(ControlEvent.Denied, this.#controlOnDenied);
    void this.socket.leave(this.#room.name);
    this.session.control.leave(this.viewer.id);
    this.session.presence.leave(this.viewer.id);
  }
}

/**
 * `viewer`'s control action in `session`, wherever its socket is (here, or on another node:
 * visiting-participants.ts); the caller checked the token may drive the session. Throws a
 * ControlError when refused.
 */
export function actAs(session: Session, viewer: Viewer, command: Extract<ControlCommand, { type: 'control' }>, admin: boolean): ControlAcknowledged {
  const control = session.control;
  const actor: Actor = { id: viewer.id, name: viewer.name, admin };
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

/** Relays `viewer`'s pointer while sharing is on; a bad position (checked first, as input is) or sharing off throws. */
export function pointerOf(session: Session, viewer: Viewer, payload: unknown): void {
  const { x, y } = pointerPosition(payload, session.options);
  if (!session.control.pointers) {
    throw new ControlError(ErrorCode.PointersOff, 'pointer:move refused: pointers are not shared in this session now (the controller turns them on with pointer:share)');
  }
  session.presence.pointer(viewer.id, x, y);
}
