import type { Server as SocketIoServer } from 'socket.io';
import type { NodeInfo } from '../cluster/cluster-node.js';
import { participantsRoom } from '../cluster/keys.js';
import type { Session } from '../sessions/session.js';
import type { Viewer } from '../sessions/presence.js';
import { ControlEvent, type ControlEvents } from '../sessions/session-control.js';
import { ControlServerEvent } from '../protocols/socket-io-control.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { roomOf } from './session-room.js';

/** A participant of a session of this node whose socket is on another node. */
export interface Visitor {
  readonly viewer: Viewer;
  /** The node holding its socket: the only node that may act for it. */
  readonly node: string;
  /** Its Socket.IO id on that node: where `control:denied` goes, through the cluster adapter. */
  readonly socket: string;
  /** When it joined, ms (this node's clock): a node lists it in its heartbeat within a second or two. */
  readonly joinedAt: number;
}

/**
 * How long a visitor stays without its node's heartbeat listing it: the heartbeat is written every
 * second and read here every second; a node that stops listing it (it left and the leave call was
 * lost, or the node died and its heartbeat lapsed) loses it after this.
 */
const UNLISTED_GRACE_MS = 5_000;
/**
 * Visitors of one session at most: each is a viewer every `presence` lists to everyone. Every node
 * bounds its sockets by its connection caps; this bounds what the other nodes together may add.
 */
export const MAX_VISITORS = 1_024;

interface SessionVisitors {
  readonly visitors: Map<string, Visitor>;
  readonly onDenied: (denied: ControlEvents['denied']) => void;
}

/**
 * The participants other nodes' Socket.IO viewers are in this node's sessions: in the session's
 * presence and control like a local socket (session-room.ts), joined, acting and leaving through
 * the internal routes (participant-routes.ts). Their broadcasts reach them through the session
 * room's cluster-wide room, `control:denied` through their socket's id. A node that stops listing
 * a visitor in its heartbeat (left, or dead) loses it: its control passes on as a local one's.
 */
export class VisitingParticipants {
  readonly #sessions = new Map<Session, SessionVisitors>();
  #io: SocketIoServer | undefined;

  constructor(private readonly nodeId: string) {}

  /** The Socket.IO server, once it exists (the routes are registered before it). */
  attach(io: SocketIoServer): void {
    this.#io = io;
  }

  /** `node`'s socket `socket` joins `session`'s presence under `name`; a second join of the same socket replaces its first. */
  join(session: Session, node: string, socket: string, name: string | undefined): Visitor {
    const io = this.#io;
    if (!io || session.closed) throw new FramehubError(ErrorCode.SessionNotFound, `no session ${JSON.stringify(session.id)}`);
    let entry = this.#sessions.get(session);
    for (const visitor of entry?.visitors.values() ?? []) {
      if (visitor.node === node && visitor.socket === socket) this.leave(session, visitor.viewer.id);
    }
    entry = this.#sessions.get(session);
    if (entry && entry.visitors.size >= MAX_VISITORS) {
      throw new FramehubError(ErrorCode.RateLimited, `session ${session.id} has ${MAX_VISITORS} participants on other nodes already`);
    }
    if (!entry) {
      const visitors = new Map<string, Visitor>();
      const onDenied = ({ holder, by }: ControlEvents['denied']): void => {
        const visitor = visitors.get(holder.id);
        if (visitor) io.to(visitor.socket).emit(ControlServerEvent.Denied, { by });
      };
      entry = { visitors, onDenied };
      this.#sessions.set(session, entry);
      session.control.on(ControlEvent.Denied, onDenied);
      roomOf(io, session).share(participantsRoom(this.nodeId, session.id));
    }
    const viewer = session.presence.join(name);
    const visitor: Visitor = { viewer, node, socket, joinedAt: Date.now() };
    entry.visitors.set(viewer.id, visitor);
    return visitor;
  }

  /** The visitor `id` of `session` when `node` holds it. */
  get(session: Session, node: string, id: string): Visitor | undefined {
    const visitor = this.#sessions.get(session)?.visitors.get(id);
    return visitor?.node === node ? visitor : undefined;
  }

  /** It left (its socket unsubscribed or disconnected, or its node stopped listing it): as a local participant leaves. */
  leave(session: Session, id: string): void {
    const entry = this.#sessions.get(session);
    if (!entry?.visitors.delete(id)) return;
    if (!session.closed) {
      session.control.leave(id);
      session.presence.leave(id);
    }
    if (entry.visitors.size === 0) this.#forget(session, entry);
  }

  /**
   * Drops the visitors their node no longer lists (the node list just read: every live node's
   * heartbeat), and every visitor of a session that has closed.
   */
  prune(nodes: readonly NodeInfo[]): void {
    const listed = new Map<string, Set<string>>();
    for (const node of nodes) listed.set(node.id, new Set(Array.isArray(node.participants) ? node.participants : []));
    const now = Date.now();
    for (const [session, entry] of this.#sessions) {
      if (session.closed) {
        this.#forget(session, entry);
        continue;
      }
      for (const [id, visitor] of entry.visitors) {
        if (!listed.get(visitor.node)?.has(id) && now - visitor.joinedAt > UNLISTED_GRACE_MS) this.leave(session, id);
      }
    }
  }

  #forget(session: Session, entry: SessionVisitors): void {
    this.#sessions.delete(session);
    session.control.off(ControlEvent.Denied, entry.onDenied);
    if (this.#io && !session.closed) roomOf(this.#io, session).share(undefined);
  }
}
