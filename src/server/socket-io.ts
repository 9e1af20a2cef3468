import type { Server as HttpServer } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { Server as SocketIoServer, type Socket } from 'socket.io';
import type { Frame } from '../hub/frame.js';
import type { StreamNotice, Subscription } from '../hub/stream.js';
import { deliverFromPromise } from '../hub/subscriber-slot.js';
import { AdaptiveController, TIERS, type Tier } from '../hub/adaptive-controller.js';
import { ProtocolError } from '../protocols/errors.js';
import { MAX_VARIANTS, VariantLimitError } from '../hub/variant.js';
import { framePayload, parseSessionEvent, ServerEvent, type SessionCommand } from '../protocols/socket-io-session.js';
import { InputError, parseInput } from '../sessions/input.js';
import type { Session } from '../sessions/session.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import { MessageLimiter } from './message-limiter.js';
import { ConnectionCaps } from './connection-caps.js';
import { HOST_REFUSED } from './host-check.js';
import { preframedSocketIoEvent, writeSocketIoPacket, type PreframedSocketIoPacket } from './preframed.js';

/** Where Socket.IO's engine answers (and claims upgrades, see upgrade-router.ts). */
export const SOCKET_IO_PATH = '/socket.io/';

/** The engine.io connection under a Socket.IO client: what the caps count. */
interface EngineConnection {
  request: { socket: { remoteAddress?: string } };
  close(): void;
  once(event: 'close', listener: () => void): void;
}

export interface SocketIoDeps {
  registry: SessionRegistry;
  log: FastifyBaseLogger;
  /** Largest message a client may send, bytes. */
  maxPayload: number;
  /** The connection caps every WebSocket route shares. */
  caps: ConnectionCaps;
  /** Refuses a handshake whose Host header it does not accept (DNS rebinding); unset = all. */
  allowHost?: (host: string | undefined) => boolean;
}

/** The key the `frame` event's pre-framed packet is memoised under on each variant. */
const FRAME_KEY = 'socket.io:frame';

/** Events per second a socket may send, and the burst; beyond it events are dropped with an `error`. */
const EVENTS_PER_SECOND = 60;
const EVENT_BURST = 120;
/** Input events of one socket waiting for the page at most: one flooding client cannot fill a shared page's queue. */
const MAX_PENDING_INPUT = 16;

/**
 * The real Socket.IO server on framehub's HTTP server: seeds/003's session events. It also
 * serves `/socket.io/socket.io.js`, so the seed's WebView page needs no CDN.
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
    // WebView pages are often data: or file: URLs (origin "null") or on another host.
    cors: { origin: '*' },
    maxHttpBufferSize: deps.maxPayload,
    // Past a cap, engine.io answers the handshake 403 with this message (connect_error on the client).
    allowRequest: function allowRequest(req, callback) {
      if (deps.allowHost && !deps.allowHost(req.headers.host)) return callback(HOST_REFUSED, false);
      const refusal = deps.caps.check(req.socket.remoteAddress ?? '');
      callback(refusal && ConnectionCaps.describe(refusal, deps.caps), refusal === undefined);
    },
    // Frames are JPEG already; deflating them costs CPU for nothing.
    perMessageDeflate: false,
    httpCompression: false,
  });
  io.engine.on('connection', function engineOnConnection(connection: EngineConnection) {
    const taken = deps.caps.take(connection.request.socket.remoteAddress ?? '');
    // allowRequest checked the caps a moment ago; a race of handshakes may still pass one too many.
    if (typeof taken === 'string') return connection.close();
    connection.once('close', taken.release);
  });
  io.on('connection', function ioOnConnection(socket) {
    new SessionSocket(socket, deps);
  });
  return io;
}

/**
 * One Socket.IO client: its subscription (one session at a time), its quality and fps, the
 * adaptive controller, the input rate limit.
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
class SessionSocket {
  readonly #limiter = new MessageLimiter(EVENTS_PER_SECOND, EVENT_BURST);
  #session: Session | undefined;
  #subscription: Subscription | undefined;
  #adaptive: AdaptiveController | undefined = new AdaptiveController();
  #quality: number = TIERS.normal.quality;
  #fps: number = TIERS.normal.fps;
  #lastLimitNotice = 0;
  #pendingInput = 0;
  /** Gives the held quality back to the session stream's bound on distinct variants. */
  #unclaim: (() => void) | undefined;
  /** Rejects the write in flight when the socket goes away (engine.io then drops its callbacks). */
  #abortWrite: ((error: Error) => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly deps: SocketIoDeps,
  ) {
    socket.onAny(this.#socketOnAny);
    socket.on('disconnect', this.#socketOnDisconnect);
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
        this.#emit(ServerEvent.Error, { message: `too many events: at most ${EVENTS_PER_SECOND} a second; ${event} dropped` });
      }
      return;
    }
    // A listener that throws ends the process (socket.io rethrows on a later tick): every
    // failure becomes an `error` event to this client.
    try {
      this.#handle(parseSessionEvent(event, args));
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.#emit(ServerEvent.Error, { message: error.message });
      } else {
        this.deps.log.error({ err: error, event: String(event).slice(0, 64) }, 'socket.io event handler failed');
        this.#emit(ServerEvent.Error, { message: 'the server could not handle this event' });
      }
    }
  };

  readonly #socketOnDisconnect = (): void => {
    this.#unsubscribe();
  };

  #handle(command: SessionCommand): void {
    switch (command.type) {
      case 'subscribe':
        return this.#subscribe(command.sessionId);
      case 'unsubscribe':
        this.#unsubscribe();
        return this.#emit(ServerEvent.Unsubscribed, {});
      case 'quality':
        if (!this.#claimQuality(command.quality)) {
          return this.#emit(ServerEvent.Error, { message: `quality:set ${command.quality} refused: ${new VariantLimitError(MAX_VARIANTS).message}` });
        }
        this.#manual();
        this.#quality = command.quality;
        return this.#emit(ServerEvent.QualityUpdated, { quality: this.#quality });
      case 'fps':
        this.#manual();
        this.#setFps(command.fps);
        return this.#emit(ServerEvent.FpsUpdated, { fps: this.#fps });
      case 'adaptive':
        if (command.enabled && !this.#adaptive) {
          this.#adaptive = new AdaptiveController();
          this.#applyTier(this.#adaptive.tier);
        } else if (!command.enabled) {
          this.#adaptive = undefined;
        }
        return this.#emit(ServerEvent.AdaptiveUpdated, { enabled: command.enabled });
      case 'input':
        return this.#input(command.input, command.payload);
    }
  }

  #subscribe(sessionId: string): void {
    const session = this.deps.registry.get(sessionId);
    if (!session) {
      this.#emit(ServerEvent.Error, { message: `no session ${JSON.stringify(sessionId.slice(0, 64))}; create it with POST /api/session/create` });
      return;
    }
    this.#unsubscribe();
    this.#session = session;
    if (!this.#claimQuality(this.#quality)) {
      this.#session = undefined;
      this.#emit(ServerEvent.Error, { message: `subscribe refused: ${new VariantLimitError(MAX_VARIANTS).message}` });
      return;
    }
    session.touch();
    const stream = session.stream;
    this.#subscription = stream.subscribe({
      fps: this.#fps,
      deliver: deliverFromPromise((frame) => this.#deliver(session, frame)),
      onNotice: this.#relayNotice,
      onDeliverError: (error) => this.deps.log.debug({ err: error, session: session.id }, 'socket.io frame delivery failed'),
    });
    this.#emit(ServerEvent.Subscribed, { session_id: session.id, fps: this.#fps, quality: this.#quality });
  }

  /**
   * Holds `quality` against the subscribed session's bound on distinct variants, giving back
   * the quality held before; `false` (and nothing changed) when the bound refuses it.
   */
  #claimQuality(quality: number): boolean {
    if (!this.#session) return true;
    let unclaim: () => void;
    try {
      unclaim = this.#session.stream.variants.claim({ format: 'jpeg', quality });
    } catch (error) {
      if (error instanceof VariantLimitError) return false;
      throw error;
    }
    this.#unclaim?.();
    this.#unclaim = unclaim;
    return true;
  }

  #unsubscribe(): void {
    this.#unclaim?.();
    this.#unclaim = undefined;
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#session = undefined;
    this.#abortWrite?.(new Error('unsubscribed'));
  }

  async #deliver(session: Session, frame: Frame): Promise<number> {
    // Asking for more quality than the page was captured at only grows the bytes; pass those through.
    const quality = Math.min(this.#quality, frame.quality ?? 100);
    const variant = await session.stream.variants.get(frame, { format: 'jpeg', quality });
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

  #input(type: Parameters<typeof parseInput>[0], payload: unknown): void {
    const session = this.#session;
    if (!session || session.closed) {
      this.#emit(ServerEvent.Error, { message: `input:${type} needs a subscribed session; send subscribe {session_id} first` });
      return;
    }
    let event;
    try {
      event = parseInput(type, payload, session.options);
    } catch (error) {
      this.#emit(ServerEvent.Error, { message: error instanceof InputError ? error.message : `input:${type} could not be read` });
      return;
    }
    if (this.#pendingInput >= MAX_PENDING_INPUT) {
      this.#emit(ServerEvent.Error, { message: `input:${type} dropped: ${MAX_PENDING_INPUT} of your events are still waiting for the page` });
      return;
    }
    this.#pendingInput++;
    session.input(event).finally(() => this.#pendingInput--).then(
      () => this.#emit(ServerEvent.InputAcknowledged, { type }),
      (error: unknown) => {
        const message = error instanceof InputError ? error.message : `input:${type} failed: ${(error as Error).message.split('\n')[0]}`;
        this.#emit(ServerEvent.Error, { message });
      },
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

  readonly #relayNotice = (notice: StreamNotice): void => {
    this.#emit(notice.level === 'status' ? ServerEvent.Status : ServerEvent.Error, { message: notice.message });
  };

  #emit(event: string, payload: object): void {
    if (this.socket.connected) this.socket.emit(event, payload);
  }
}
