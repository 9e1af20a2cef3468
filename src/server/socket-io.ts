import type { Server as HttpServer } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { Server as SocketIoServer, type ServerOptions, type Socket } from 'socket.io';
import type { Frame } from '../sources/frame.js';
import type { Hub } from '../hub/hub.js';
import type { Stream, StreamNotice, Subscription } from '../hub/stream.js';
import { deliverFromPromise } from '../hub/subscriber-slot.js';
import { AdaptiveController, TIERS, type Tier } from '../hub/adaptive-controller.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { MAX_VARIANTS, VariantLimitError } from '../hub/variant.js';
import { framePayload, parseSessionEvent, ServerEvent, type SessionCommand } from '../protocols/socket-io-session.js';
import { InputError, parseInput } from '../sessions/input.js';
import type { Session } from '../sessions/session.js';
import { SESSION_STREAM_PREFIX, type SessionRegistry } from '../sessions/session-registry.js';
import type { ErrorPayload, SubscribeTarget } from '../protocols/socket-io-session.js';
import { MessageLimiter } from './message-limiter.js';
import type { RemoteSessions } from '../cluster/remote-sessions.js';
import type { SessionForward } from '../cluster/session-forward.js';
import { playbackOf } from '../recording/playback-streams.js';
import { resolveStream } from './stream-lookup.js';
import { ConnectionCaps } from './connection-caps.js';
import { corsOrigins, type RequestGate } from './request-gate.js';
import { allows, reaches, whenGrantEnds, type Access } from './access.js';
import { bearerToken, OPEN_PRINCIPAL, type Principal } from './auth.js';
import { refusalOf } from './route-errors.js';
import { preframedSocketIoEvent, writeSocketIoPacket, type PreframedSocketIoPacket } from './preframed.js';
import { ControlServerEvent, parseControlEvent, type ControlCommand } from '../protocols/socket-io-control.js';
import { Participant } from './session-room.js';
import { refuseFailure, RemoteParticipant } from './remote-participant.js';

/** Where Socket.IO's engine answers (and claims upgrades, see upgrade-router.ts). */
export const SOCKET_IO_PATH = '/socket.io/';

/** The engine.io connection under a Socket.IO client: what the caps count. */
interface EngineConnection {
  request: { socket: { remoteAddress?: string } };
  close(): void;
  once(event: 'close', listener: () => void): void;
}

export interface SocketIoDeps {
  /** Resolves every `subscribe`, as the WebSocket routes resolve their stream ids. */
  hub: Hub;
  /** Finds the browser session behind a stream: the only streams that take input. */
  registry: SessionRegistry;
  log: FastifyBaseLogger;
  /** Who may connect (a valid token when configured), subscribe (`view:<stream>`) and send input (`control:<session>`); unset = open. */
  access?: Access;
  /** Largest message a client may send, bytes. */
  maxPayload: number;
  /** The connection caps every WebSocket route shares. */
  caps: ConnectionCaps;
  /** Refuses a handshake whose Host header it does not accept (DNS rebinding); unset = all. */
  /** Host and Origin checks (request-gate.ts), for both transports' handshakes. */
  gate?: RequestGate;
  /** Other origins whose pages may read Socket.IO's polling answers (ALLOWED_ORIGINS). */
  allowedOrigins?: string;
  /** Socket.IO's adapter: in a cluster, the Redis one, so broadcasts reach every node's sockets. */
  adapter?: ServerOptions['adapter'];
  /**
   * In a cluster: sessions other nodes run, watched here, where their input and control go, and
   * the participants this node's sockets are in them (listed in this node's heartbeat).
   */
  remote?: { sessions: RemoteSessions; forward: SessionForward; participants: Set<string> };
}

/** The key the `frame` event's pre-framed packet is memoised under on each variant. */
const FRAME_KEY = 'socket.io:frame';

/** Events per second a socket may send, and the burst; beyond it events are dropped with an `error`. */
const EVENTS_PER_SECOND = 60;
const EVENT_BURST = 120;
/** Input events of one socket waiting for the page at most: one flooding client cannot fill a shared page's queue. */
const MAX_PENDING_INPUT = 16;

/** A Socket.IO acknowledgement callback: the client passed a function as the event's last argument. */
type Ack = (answer: unknown) => void;

/**
 * How one client event is answered: with its answer event (`subscribed`, `input:acknowledged`,
 * …) or its `error`, as seeds/003 has it, and also through the client's ack callback when it
 * passed one (`emitWithAck`): the answer's payload, or `{error: {code, message}}`.
 */
interface Reply {
  answer(event: string, payload: object): void;
  refuse(code: ErrorCode, message: string): void;
  /** Acks without an answer event: for events too frequent to answer each (`pointer:move`). */
  quiet(payload: object): void;
}

/**
 * The real Socket.IO server on framehub's HTTP server: seeds/003's session events, for a browser
 * session (`subscribe {session_id}`) or any other stream of the hub (`subscribe {stream}`). It
 * also serves `/socket.io/socket.io.js`, so the seed's WebView page needs no CDN.
 *
 * `destroyUpgrade: false`: by default engine.io ends, after a second, every upgrade outside
 * `/socket.io/` that has not written a byte yet; framehub's own WebSocket routes share this
 * server, and an upgrade still being authorised must not be cut by someone else's timer.
 */
export function attachSocketIo(server: HttpServer, deps: SocketIoDeps): SocketIoServer {
  const io = new SocketIoServer(server, {
    path: SOCKET_IO_PATH,
    serveClient: true,
    destroyUpgrade: false,
    // Pages on other origins (a WebView's file: page sends "null") are let in by the gate only
    // when ALLOWED_ORIGINS lists them; these are the CORS headers that let them read answers.
    cors: { origin: corsOrigins(deps.allowedOrigins ?? '') },
    maxHttpBufferSize: deps.maxPayload,
    // Past a cap, engine.io answers the handshake 403 with this message (connect_error on the client).
    allowRequest: function allowRequest(req, callback) {
      const refused = deps.gate?.(req.headers);
      if (refused) return callback(refused.message, false);
      const refusal = deps.caps.check(req.socket.remoteAddress ?? '');
      callback(refusal && ConnectionCaps.describe(refusal, deps.caps), refusal === undefined);
    },
    // Frames are JPEG already; deflating them costs CPU for nothing.
    perMessageDeflate: false,
    httpCompression: false,
    ...(deps.adapter && { adapter: deps.adapter }),
  });
  io.engine.on('connection', function engineOnConnection(connection: EngineConnection) {
    const taken = deps.caps.take(connection.request.socket.remoteAddress ?? '');
    // allowRequest checked the caps a moment ago; a race of handshakes may still pass one too many.
    if (typeof taken === 'string') return connection.close();
    connection.once('close', taken.release);
  });
  // With access configured the handshake carries a token: seeds/003's `auth: {token}`, or
  // `?token=` / `Authorization: Bearer` for clients that cannot set `auth`. A refusal reaches
  // the client as `connect_error` with `data: {code, close_code}` (4401 like the WebSocket routes).
  const access = deps.access;
  if (access) {
    io.use(function checkHandshakeToken(socket, next) {
      const token = handshakeToken(socket);
      // Open and no share link: as the seeds' servers, nothing to check. A share link is its link's principal, open or not.
      if (access.open && !access.carriesShare(token)) return next();
      access.admit(token, undefined).then(
        (principal) => {
          principals.set(socket, principal);
          next();
        },
        (error: unknown) => {
          const refusal = refusalOf(error, deps.log, 'socket.io token check');
          next(Object.assign(new Error(refusal.message), { data: { code: refusal.code, close_code: refusal.closeCode } }));
        },
      );
    });
  }
  io.on('connection', function ioOnConnection(socket) {
    new StreamSocket(socket, deps, principals.get(socket) ?? OPEN_PRINCIPAL);
  });
  return io;
}

const principals = new WeakMap<Socket, Principal>();

/** seeds/003's sentence for a session id that is not there (or not the caller's): it says how to make one. */
function noSession(id: string): string {
  return `no session ${JSON.stringify(id.slice(0, 64))}; create it with POST /api/session/create`;
}

/** The handshake's token: `auth.token` (seeds/003), else `?token=`, else `Authorization: Bearer`. */
function handshakeToken(socket: Socket): string | undefined {
  const auth = socket.handshake.auth as Record<string, unknown> | undefined;
  if (typeof auth?.['token'] === 'string' && auth['token'] !== '') return auth['token'];
  const query = socket.handshake.query['token'];
  if (typeof query === 'string' && query !== '') return query;
  return bearerToken(socket.handshake.headers.authorization);
}

/**
 * One Socket.IO client: its subscription (one stream at a time, resolved through the hub), its
 * quality and fps, the adaptive controller, and input, which goes only to a browser session's
 * stream (any other is refused with `input_not_accepted`).
 *
 * Frames bypass `socket.emit`: the packet is encoded and framed once per variant
 * (`preframedSocketIoEvent`) and written with engine.io's `socket.conn.write(data, options,
 * callback)` (`writeSocketIoPacket`, preframed.ts), whose callback runs when the transport has
 * flushed the packet (websocket: the socket's write callback; polling: the response carrying
 * it was written). That completion is what the subscriber slot waits
 * for before the next frame, and what the adaptive controller measures. `volatile` would
 * only drop packets while the transport is not writable; it gives no completion, so it
 * could neither pace nor measure.
 */
class StreamSocket {
  readonly #limiter = new MessageLimiter(EVENTS_PER_SECOND, EVENT_BURST);
  #stream: Stream | undefined;
  /** The browser session behind `#stream`, where input goes; unset for every other stream. */
  #session: Session | undefined;
  #subscription: Subscription | undefined;
  #adaptive: AdaptiveController | undefined = new AdaptiveController();
  #quality: number = TIERS.normal.quality;
  #fps: number = TIERS.normal.fps;
  #lastLimitNotice = 0;
  #pendingInput = 0;
  #clipboardPending = false;
  /** This socket among the viewers of the browser session it watches (presence, control). */
  #participant: Participant | undefined;
  /** The same for a session another node runs: a participant there, through that node. */
  #visitor: RemoteParticipant | undefined;
  /** Gives the held quality back to the stream's bound on distinct variants. */
  #unclaim: (() => void) | undefined;
  /** Rejects the write in flight when the socket goes away (engine.io then drops its callbacks). */
  #abortWrite: ((error: Error) => void) | undefined;

  /** Stops watching the grant's end (its token's expiry, its share link's revocation). */
  readonly #unwatchGrant: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly deps: SocketIoDeps,
    private readonly principal: Principal,
  ) {
    socket.onAny(this.#socketOnAny);
    socket.on('disconnect', this.#socketOnDisconnect);
    // A token is checked at the handshake: the socket ends when it expires (or its share link is
    // revoked), with an `error` saying why first; the client comes back with a fresh one.
    this.#unwatchGrant = whenGrantEnds(principal, (ended) => {
      this.#refuse(ended.code, ended.message);
      socket.disconnect(true);
    });
  }

  readonly #socketOnAny = (event: string, ...args: unknown[]): void => {
    // socket.io dispatches an event on the tick after its packet arrived: an invalid packet
    // in the same read may have disconnected the socket in between, and a subscription made
    // now would never be closed.
    if (this.socket.disconnected) return;
    if (!this.#limiter.take()) {
      const now = Date.now();
      // One notice a second: answering every event of a flood would feed it.
      if (now - this.#lastLimitNotice >= 1000) {
        this.#lastLimitNotice = now;
        this.#refuse(ErrorCode.RateLimited, `too many events: at most ${EVENTS_PER_SECOND} a second; ${event} dropped`);
      }
      return;
    }
    const last = args[args.length - 1];
    const reply = this.#reply(typeof last === 'function' ? (last as Ack) : undefined);
    // A listener that throws ends the process (socket.io rethrows on a later tick): every
    // failure becomes an `error` event to this client.
    try {
      this.#handle(parseControlEvent(event, args) ?? parseSessionEvent(event, args), reply);
    } catch (error) {
      if (error instanceof FramehubError) {
        reply.refuse(error.code, error.message);
      } else {
        this.deps.log.error({ err: error, event: String(event).slice(0, 64) }, 'socket.io event handler failed');
        reply.refuse(ErrorCode.InternalError, 'the server could not handle this event');
      }
    }
  };

  #reply(ack: Ack | undefined): Reply {
    // socket.io's ack sends at most once and writes to the socket whatever its state: only a connected one is answered.
    const acknowledge = (answer: unknown) => {
      if (ack && this.socket.connected) ack(answer);
    };
    return {
      answer: (event, payload) => {
        this.#emit(event, payload);
        acknowledge(payload);
      },
      refuse: (code, message) => {
        this.#refuse(code, message);
        acknowledge({ error: { code, message } });
      },
      quiet: acknowledge,
    };
  }

  readonly #socketOnDisconnect = (): void => {
    this.#unwatchGrant();
    this.#unsubscribe();
  };

  #handle(command: SessionCommand | ControlCommand, reply: Reply): void {
    switch (command.type) {
      case 'subscribe':
        return this.#subscribe(command.target, reply, command.name, command.frames !== false);
      case 'unsubscribe':
        this.#unsubscribe();
        return reply.answer(ServerEvent.Unsubscribed, {});
      case 'quality':
        if (!this.#claimQuality(command.quality)) {
          return reply.refuse(ErrorCode.TooManyVariants, `quality:set ${command.quality} refused: ${new VariantLimitError(MAX_VARIANTS).message}`);
        }
        this.#manual();
        this.#quality = command.quality;
        return reply.answer(ServerEvent.QualityUpdated, { quality: this.#quality });
      case 'fps':
        this.#manual();
        this.#setFps(command.fps);
        return reply.answer(ServerEvent.FpsUpdated, { fps: this.#fps });
      case 'adaptive':
        if (command.enabled && !this.#adaptive) {
          this.#adaptive = new AdaptiveController();
          this.#applyTier(this.#adaptive.tier);
        } else if (!command.enabled) {
          this.#adaptive = undefined;
        }
        return reply.answer(ServerEvent.AdaptiveUpdated, { enabled: command.enabled });
      case 'input':
        return this.#input(command.input, command.payload, reply);
      case 'control':
      case 'pointer':
        return this.#control(command, reply);
      case 'clipboard':
        return this.#clipboard(reply);
      case 'playback': {
        // Whoever watches a recording's playback steers it, for every viewer of it (docs/recording.md).
        const playback = this.#stream && playbackOf(this.#stream);
        if (!playback) {
          const why = this.#stream ? `stream ${JSON.stringify(this.#stream.id)} is no recording's playback` : 'nothing is subscribed';
          return reply.refuse(ErrorCode.PlaybackNotAccepted, `playback:set refused: ${why}; subscribe {stream: "recording:<recording id>"} first`);
        }
        return reply.answer(ServerEvent.PlaybackUpdated, playback.apply(command.change).state);
      }
    }
  }

  #subscribe(target: SubscribeTarget, reply: Reply, name: string | undefined, frames: boolean): void {
    // Asked before the stream is looked up: a refusal says nothing about which ids exist.
    this.deps.access?.require(this.principal, this.deps.hub.viewNeed(target.kind === 'session' ? `${SESSION_STREAM_PREFIX}${target.sessionId}` : target.streamId));
    let stream: Stream;
    try {
      // Another owner's session is not found here, as an unknown one (stream-lookup.ts).
      stream = resolveStream(this.deps.hub, target.kind === 'session' ? `${SESSION_STREAM_PREFIX}${target.sessionId}` : target.streamId, this.principal);
    } catch (error) {
      if (!(error instanceof FramehubError)) throw error;
      if (error.code === ErrorCode.InternalError) this.deps.log.error({ err: error.cause }, 'socket.io: a stream could not be opened');
      // An unknown session is refused as the session REST routes refuse it, with seeds/003's
      // sentence that says how to make one.
      if (target.kind === 'session' && error.code === ErrorCode.StreamNotFound) {
        return reply.refuse(ErrorCode.SessionNotFound, noSession(target.sessionId));
      }
      return reply.refuse(error.code, error.message);
    }
    if (stream.state === 'ended') return reply.refuse(ErrorCode.StreamEnded, `stream ${stream.id} has ended`);
    // The new stream's variant is claimed before the old subscription goes: a refusal changes nothing.
    let unclaim: () => void;
    try {
      unclaim = stream.variants.claim({ format: 'jpeg', quality: this.#quality });
    } catch (error) {
      if (!(error instanceof VariantLimitError)) throw error;
      return reply.refuse(error.code, `subscribe refused: ${error.message}`);
    }
    this.#unsubscribe();
    this.#stream = stream;
    this.#unclaim = unclaim;
    this.#session = this.deps.registry.sessionOf(stream);
    this.#session?.touch();
    const subscription = stream.subscribe({
      fps: this.#fps,
      // Without frames (the client plays /video/:id): a subscriber all the same, for the
      // stream's notices, the session's presence and control, and input; nothing is encoded.
      deliver: frames ? deliverFromPromise((frame) => this.#deliver(stream, frame)) : (_frame, done) => done(undefined, 0),
      onNotice: (notice) => this.#relayNotice(stream, notice),
      onDeliverError: (error) => this.deps.log.debug({ err: error, stream: stream.id }, 'socket.io frame delivery failed'),
      // The claimed variant is this socket's need (its quality): a browser session's screencast
      // sends no higher quality than its viewers ask (reader-demand.ts).
      need: null,
    });
    // A stream that ended inside subscribe() has already been dropped by its notice.
    if (this.#stream !== stream) return subscription.close();
    this.#subscription = subscription;
    reply.answer(ServerEvent.Subscribed, target.kind === 'session'
      ? { session_id: target.sessionId, fps: this.#fps, quality: this.#quality }
      : { stream: stream.id, fps: this.#fps, quality: this.#quality });
    // After `subscribed`: a session's viewer then hears who watches and who controls.
    if (this.#session) this.#participant = new Participant(this.socket.nsp.server, this.socket, this.#session, name);
    const remote = this.#session ? undefined : this.deps.remote?.sessions.sessionOf(stream);
    if (remote && this.deps.remote) {
      this.#visitor = new RemoteParticipant(this.socket, remote.id, name, {
        forward: this.deps.remote.forward,
        node: remote.place.node,
        listed: this.deps.remote.participants,
        token: handshakeToken(this.socket),
        log: this.deps.log,
      });
    }
  }

  /**
   * Holds `quality` against the subscribed stream's bound on distinct variants, giving back
   * the quality held before; `false` (and nothing changed) when the bound refuses it.
   */
  #claimQuality(quality: number): boolean {
    if (!this.#stream) return true;
    let unclaim: () => void;
    try {
      unclaim = this.#stream.variants.claim({ format: 'jpeg', quality });
    } catch (error) {
      if (error instanceof VariantLimitError) return false;
      throw error;
    }
    this.#unclaim?.();
    this.#unclaim = unclaim;
    return true;
  }

  #unsubscribe(): void {
    this.#participant?.leave();
    this.#participant = undefined;
    this.#visitor?.leave();
    this.#visitor = undefined;
    this.#unclaim?.();
    this.#unclaim = undefined;
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#stream = undefined;
    this.#session = undefined;
    this.#abortWrite?.(new Error('unsubscribed'));
  }

  async #deliver(stream: Stream, frame: Frame): Promise<number> {
    // Asking for more quality than the source captured at only grows the bytes; pass those through.
    const quality = Math.min(this.#quality, frame.quality ?? 100);
    const variant = await stream.variants.get(frame, { format: 'jpeg', quality });
    const packet = preframedSocketIoEvent(variant, FRAME_KEY, this.socket.nsp.server.encoder, ServerEvent.Frame, framePayload);
    const startedAt = performance.now();
    const bytes = await this.#write(packet);
    const tier = this.#adaptive?.record(bytes, performance.now() - startedAt);
    if (tier) {
      this.#applyTier(tier);
      this.#emit(ServerEvent.QualityUpdated, { quality: this.#quality });
      this.#emit(ServerEvent.FpsUpdated, { fps: this.#fps });
    }
    return bytes;
  }

  #write(packet: PreframedSocketIoPacket): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.socket.disconnected) {
        reject(new Error('socket is disconnected'));
        return;
      }
      this.#abortWrite = reject;
      writeSocketIoPacket(this.socket.conn, packet, () => {
        this.#abortWrite = undefined;
        resolve(packet.bytes);
      });
    });
  }

  #input(type: Parameters<typeof parseInput>[0], payload: unknown, reply: Reply): void {
    const session = this.#session;
    const remote = !session && this.#stream ? this.deps.remote?.sessions.sessionOf(this.#stream) : undefined;
    if (remote && this.#stream) return this.#remoteInput(remote.id, this.#stream.owner, type, payload, reply);
    if (this.#stream && !session) {
      const message = `input:${type} refused: stream ${JSON.stringify(this.#stream.id)} takes no input; only a browser session does (subscribe {session_id} or {stream: "session:<id>"})`;
      return reply.refuse(ErrorCode.InputNotAccepted, message);
    }
    if (!session || session.closed) {
      return reply.refuse(ErrorCode.InputNotAccepted, `input:${type} needs a subscribed session; send subscribe {session_id} first`);
    }
    // Watching a session is not driving it.
    this.deps.access?.require(this.principal, `control:${session.id}`);
    // Watched through a share (`view:session:<id>`), another owner's session is not driven with
    // bare `control`: the answer is the one a `subscribe` to an unknown id gets.
    if (!reaches(this.principal, `control:${session.id}`, session.options.owner)) {
      return reply.refuse(ErrorCode.SessionNotFound, noSession(session.id));
    }
    let event;
    try {
      event = parseInput(type, payload, session.options);
    } catch (error) {
      if (error instanceof InputError) return reply.refuse(error.code, error.message);
      return reply.refuse(ErrorCode.InvalidInput, `input:${type} could not be read`);
    }
    // Once someone asked for control, only the controller drives the page (session-control.ts);
    // checked after the payload, so bad input is `invalid_input` whoever sends it.
    if (!this.#participant?.mayInput()) {
      const controller = session.control.state.controller;
      return reply.refuse(ErrorCode.ControlRequired, `input:${type} refused: ${controller ? `${controller.name} controls this session` : 'nobody controls this session now'}; ask with control:request`);
    }
    if (this.#pendingInput >= MAX_PENDING_INPUT) {
      return reply.refuse(ErrorCode.RateLimited, `input:${type} dropped: ${MAX_PENDING_INPUT} of your events are still waiting for the page`);
    }
    this.#pendingInput++;
    this.#participant.touch();
    session.input(event).finally(() => this.#pendingInput--).then(
      () => reply.answer(ServerEvent.InputAcknowledged, { type }),
      (error: unknown) => {
        // An InputError is about the event (an unknown key, a page too busy for more); anything else is the page failing.
        if (error instanceof InputError) reply.refuse(error.code, error.message);
        else reply.refuse(ErrorCode.SourceError, `input:${type} failed: ${(error as Error).message.split('\n')[0]}`);
      },
    );
  }

  /**
   * The page's selected text, for the controller's clipboard (`clipboard:get`). It takes the
   * scope input needs, not control itself: reading changes nothing. One read per socket at a time.
   */
  #clipboard(reply: Reply): void {
    const session = this.#session;
    if (!session || session.closed) {
      return reply.refuse(ErrorCode.InputNotAccepted, 'clipboard:get needs a subscribed browser session; send subscribe {session_id} first');
    }
    this.deps.access?.require(this.principal, `control:${session.id}`);
    if (!reaches(this.principal, `control:${session.id}`, session.options.owner)) {
      return reply.refuse(ErrorCode.SessionNotFound, noSession(session.id));
    }
    if (this.#clipboardPending) return reply.refuse(ErrorCode.RateLimited, 'clipboard:get dropped: your last one is still waiting for the page');
    this.#clipboardPending = true;
    session.selectedText().finally(() => { this.#clipboardPending = false; }).then(
      (selection) => reply.answer(ServerEvent.Clipboard, { session_id: session.id, ...selection }),
      (error: unknown) => reply.refuse(error instanceof FramehubError ? error.code : ErrorCode.SourceError, `clipboard:get failed: ${(error as Error).message.split('\n')[0]}`),
    );
  }

  /**
   * Input for a session another node runs: checked here as far as this node can (scope, owner),
   * then sent to that node, which checks it all again and hands it to the page; bounded by the
   * same count of events waiting as local input.
   */
  #remoteInput(id: string, owner: string | undefined, type: Parameters<typeof parseInput>[0], payload: unknown, reply: Reply): void {
    this.deps.access?.require(this.principal, `control:${id}`);
    if (!reaches(this.principal, `control:${id}`, owner)) return reply.refuse(ErrorCode.SessionNotFound, noSession(id));
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      return reply.refuse(ErrorCode.InvalidInput, `input:${type} needs an object`);
    }
    if (this.#pendingInput >= MAX_PENDING_INPUT) {
      return reply.refuse(ErrorCode.RateLimited, `input:${type} dropped: ${MAX_PENDING_INPUT} of your events are still waiting for the page`);
    }
    this.#pendingInput++;
    this.deps.remote!.forward.input(id, handshakeToken(this.socket), type, payload as Record<string, unknown>, this.#visitor?.id).finally(() => this.#pendingInput--).then(
      () => reply.answer(ServerEvent.InputAcknowledged, { type }),
      (error: unknown) => refuseFailure(reply, `input:${type}`, error),
    );
  }

  /** Control actions and pointer positions of a session's viewer (session-room.ts does the work). */
  #control(command: ControlCommand, reply: Reply): void {
    const participant = this.#participant;
    const event = command.type === 'pointer' ? 'pointer:move' : `control:${command.action}`;
    if (!participant && this.#visitor && this.#stream) return this.#remoteControl(this.#visitor, this.#stream.owner, command, reply);
    if (!participant || participant.session.closed) {
      return reply.refuse(ErrorCode.InputNotAccepted, `${event} needs a subscribed browser session; send subscribe {session_id} first`);
    }
    if (command.type === 'pointer') {
      participant.pointer(command.payload);
      return reply.quiet({});
    }
    // Asking for control is asking to drive: the same scope input needs.
    const session = participant.session;
    this.deps.access?.require(this.principal, `control:${session.id}`);
    if (!reaches(this.principal, `control:${session.id}`, session.options.owner)) {
      return reply.refuse(ErrorCode.SessionNotFound, noSession(session.id));
    }
    reply.answer(ControlServerEvent.Acknowledged, participant.act(command, allows(this.principal.scopes, 'admin')));
  }

  /**
   * Control and pointers in a session another node runs: the scope (and owner) checked here first,
   * as for local control, then acted on there, where the token, the owner and the action are
   * checked again; its answer or refusal comes back with the same codes as on a single node.
   */
  #remoteControl(visitor: RemoteParticipant, owner: string | undefined, command: ControlCommand, reply: Reply): void {
    if (command.type === 'pointer') return visitor.pointer(command.payload, reply);
    const id = visitor.sessionId;
    this.deps.access?.require(this.principal, `control:${id}`);
    if (!reaches(this.principal, `control:${id}`, owner)) return reply.refuse(ErrorCode.SessionNotFound, noSession(id));
    const [event, payload] = command.action === 'pointers'
      ? ['pointer:share', { enabled: command.enabled }]
      : command.action === 'grant' || command.action === 'deny'
        ? [`control:${command.action}`, { id: command.target }]
        : [`control:${command.action}`, undefined];
    visitor.act(event, payload).then(
      (acknowledged) => reply.answer(ControlServerEvent.Acknowledged, acknowledged),
      (error: unknown) => refuseFailure(reply, event, error),
    );
  }

  /** `quality:set` and `fps:set` turn adaptive mode off for this client (seeds/003). */
  #manual(): void {
    if (!this.#adaptive) return;
    this.#adaptive = undefined;
    this.#emit(ServerEvent.AdaptiveUpdated, { enabled: false });
  }

  #applyTier(tier: Tier): void {
    // Past the stream's bound on variants the tier's fps still applies; its quality does not.
    if (this.#claimQuality(tier.quality)) this.#quality = tier.quality;
    this.#setFps(tier.fps);
  }

  #setFps(fps: number): void {
    this.#fps = fps;
    this.#subscription?.setFps(fps);
  }

  /**
   * Source status and failures, as the WebSocket routes relay them (`source_error` while it
   * restarts, `stream_ended` when it is gone). An ended stream's subscription and variant go;
   * the socket stays, free to subscribe again (a client may create a new session on it).
   */
  #relayNotice(stream: Stream, notice: StreamNotice): void {
    if (notice.level === 'status') return this.#emit(ServerEvent.Status, { ...notice.detail, message: notice.message });
    this.#refuse(notice.fatal ? ErrorCode.StreamEnded : ErrorCode.SourceError, notice.message);
    if (notice.fatal && this.#stream === stream) this.#unsubscribe();
  }

  /** seeds/003's `error {message}`, with the code the WebSocket routes send for the same refusal. */
  #refuse(code: ErrorCode, message: string): void {
    const payload: ErrorPayload = { message, code };
    this.#emit(ServerEvent.Error, payload);
  }

  #emit(event: string, payload: object): void {
    if (this.socket.connected) this.socket.emit(event, payload);
  }
}
