import type { Socket } from 'socket.io';
import type { FastifyBaseLogger } from 'fastify';
import { participantsRoom } from '../cluster/keys.js';
import type { SessionForward } from '../cluster/session-forward.js';
import { ControlServerEvent, MAX_NAME_LENGTH, type ControlAcknowledged } from '../protocols/socket-io-control.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';

/** Control calls of one socket waiting for the session's node at most, as for its input. */
const MAX_PENDING_CALLS = 16;
const HOLDER_ID = /^[A-Za-z0-9_-]{1,32}$/;
const CODES = new Set<string>(Object.values(ErrorCode));

/** How a socket event is answered (socket-io.ts's Reply, as far as this needs it). */
export interface ParticipantReply {
  refuse(code: ErrorCode, message: string): void;
  quiet(payload: object): void;
}

export interface RemoteParticipantOptions {
  forward: SessionForward;
  /** The session's node: its participants' cluster-wide room is named after it. */
  node: string;
  /** The participants this node's sockets are in other nodes' sessions: what its heartbeat lists. */
  listed: Set<string>;
  /** The socket's own token: the session's node checks it again on every call. */
  token: string | undefined;
  log: FastifyBaseLogger;
}

/**
 * One socket of this node watching a session another node runs, as a participant there: it joins
 * the session's presence through that node's internal routes (participant-routes.ts), hears its
 * control and presence through the cluster-wide room it joined first (so no broadcast is missed
 * between the join and its answer), and acts there with its own token. `you` and the first
 * `control:state` and `presence` come with the join's answer, as a local socket gets them on
 * subscribe. Its id goes with its input (session-forward.ts), so the session's node takes that as
 * this participant's, and with this node's heartbeat, so that node drops it when it is listed no more.
 */
export class RemoteParticipant {
  readonly #room: string;
  readonly #joined: Promise<string | undefined>;
  #id: string | undefined;
  #left = false;
  #pending = 0;
  /** The pointer position in flight, and the latest one waiting behind it (latest wins). */
  #pointerBusy = false;
  #pointerNext: { payload: unknown; reply: ParticipantReply } | undefined;

  constructor(
    private readonly socket: Socket,
    readonly sessionId: string,
    name: string | undefined,
    private readonly options: RemoteParticipantOptions,
  ) {
    this.#room = participantsRoom(options.node, sessionId);
    void socket.join(this.#room);
    this.#joined = this.#join(name);
  }

  /** Its presence id in the session, once joined. */
  get id(): string | undefined {
    return this.#id;
  }

  /** A control action (`event` as the client sent it, read already): the session's node's answer, or its refusal thrown. */
  async act(event: string, payload: object | undefined): Promise<ControlAcknowledged> {
    const body = await this.#call('POST', 'control', { event, ...(payload !== undefined && { payload }) });
    const acknowledged = body['acknowledged'] as Record<string, unknown> | undefined;
    if (typeof acknowledged?.['action'] !== 'string' || typeof acknowledged['result'] !== 'string') {
      throw new FramehubError(ErrorCode.SourceError, `${event} failed: the session's node answered without an acknowledgement`);
    }
    return { action: acknowledged['action'].slice(0, 16) as ControlAcknowledged['action'], result: acknowledged['result'].slice(0, 16) };
  }

  /**
   * A pointer position: one call in flight, the latest position waiting behind it; a position
   * replaced before it went is acked as sent (the local relay drops it the same way).
   */
  pointer(payload: unknown, reply: ParticipantReply): void {
    if (this.#pointerBusy) {
      this.#pointerNext?.reply.quiet({});
      this.#pointerNext = { payload, reply };
      return;
    }
    this.#pointerBusy = true;
    this.#call('POST', 'pointer', payload).then(
      () => reply.quiet({}),
      (error: unknown) => refuseFailure(reply, 'pointer:move', error),
    ).finally(() => {
      this.#pointerBusy = false;
      const next = this.#pointerNext;
      this.#pointerNext = undefined;
      if (!next) return;
      // Unsubscribed meanwhile: the position goes nowhere, as a local one after leaving.
      if (this.#left) next.reply.quiet({});
      else this.pointer(next.payload, next.reply);
    });
  }

  /** Unsubscribed or disconnected: it leaves the room here and the session's presence there. Safe to call twice. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    void this.socket.leave(this.#room);
    // A leave that gets lost is made good by the heartbeat, which stops listing it.
    void this.#joined.then((id) => {
      if (id === undefined) return;
      this.options.listed.delete(id);
      return this.#send('DELETE', `/${id}`, undefined);
    }).catch(() => undefined);
  }

  async #join(name: string | undefined): Promise<string | undefined> {
    try {
      const body = await this.#send('POST', '', { socket: this.socket.id, ...(name !== undefined && { name }) });
      const you = body['you'] as Record<string, unknown> | undefined;
      const id = you?.['id'];
      const youName = you?.['name'];
      if (typeof id !== 'string' || !HOLDER_ID.test(id) || typeof youName !== 'string' || youName.length > MAX_NAME_LENGTH + 16) {
        throw new FramehubError(ErrorCode.SourceError, 'the session\'s node answered the join without a participant');
      }
      const control = body['control'];
      const viewers = body['viewers'];
      if (typeof control !== 'object' || control === null || Array.isArray(control) || !Array.isArray(viewers)) {
        throw new FramehubError(ErrorCode.SourceError, 'the session\'s node answered the join without its control and presence');
      }
      if (this.#left) {
        // Unsubscribed meanwhile: leave at once (the heartbeat never listed it).
        void this.#send('DELETE', `/${id}`, undefined).catch(() => undefined);
        return undefined;
      }
      this.#id = id;
      this.options.listed.add(id);
      this.#emit(ControlServerEvent.You, { id, name: youName });
      this.#emit(ControlServerEvent.State, control);
      this.#emit(ControlServerEvent.Presence, { viewers });
      return id;
    } catch (error) {
      if (!this.#left) {
        const refusal = error instanceof FramehubError ? error : new FramehubError(ErrorCode.SourceError, String(error));
        this.options.log.debug({ err: error, session: this.sessionId }, 'cluster: joining a session\'s presence on its node');
        this.#emit('error', { code: refusal.code, message: `joining the presence of session ${this.sessionId} failed: ${refusal.message}` });
      }
      return undefined;
    }
  }

  /** A call for this participant, once joined; bounded like the socket's input. */
  async #call(method: string, action: string, body: unknown): Promise<Record<string, unknown>> {
    if (this.#pending >= MAX_PENDING_CALLS) throw new FramehubError(ErrorCode.RateLimited, `${MAX_PENDING_CALLS} of your events are still waiting for the session's node`);
    this.#pending++;
    try {
      const id = await this.#joined;
      if (id === undefined || this.#left) {
        throw new FramehubError(ErrorCode.InputNotAccepted, `you are not in the presence of session ${this.sessionId} (joining it failed); subscribe again`);
      }
      return await this.#send(method, `/${id}/${action}`, body);
    } finally {
      this.#pending--;
    }
  }

  /** One internal call to the session's node; its answer's body, or its refusal (its code, when it is one of ours) thrown. */
  async #send(method: string, suffix: string, body: unknown): Promise<Record<string, unknown>> {
    const path = `/api/session/${encodeURIComponent(this.sessionId)}/participants${suffix}`;
    const answer = await this.options.forward.send(this.sessionId, {
      method,
      path,
      headers: this.options.token === undefined ? {} : { authorization: `Bearer ${this.options.token}` },
      ...(body !== undefined && { body }),
    });
    if (!answer) throw new FramehubError(ErrorCode.SessionNotFound, `no session ${JSON.stringify(this.sessionId.slice(0, 64))}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const object = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as Record<string, unknown> : {};
    if (answer.status >= 200 && answer.status < 300) return object;
    const code = typeof object['code'] === 'string' && CODES.has(object['code']) ? object['code'] as ErrorCode : ErrorCode.SourceError;
    const message = typeof object['error'] === 'string' ? object['error'].slice(0, 1000) : `the session's node answered ${answer.status}`;
    throw new FramehubError(code, message);
  }

  #emit(event: string, payload: object): void {
    if (this.socket.connected) this.socket.emit(event, payload);
  }
}

/** A call for `event` that failed on the way to the session's node or there: its code and words, or `source_error`. */
export function refuseFailure(reply: Pick<ParticipantReply, 'refuse'>, event: string, error: unknown): void {
  if (error instanceof FramehubError) reply.refuse(error.code, error.message);
  else reply.refuse(ErrorCode.SourceError, `${event} failed: ${(error as Error).message.split('\n')[0]}`);
}
