import { ErrorCode, FramehubError } from '../wire/errors.js';
import { randomBytes } from 'node:crypto';
import type { Encoder } from '../hub/encoder.js';
import type { Stream } from '../hub/stream.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { browserLaunch } from './browser-user.js';
import { BrowserPool } from './browser-pool.js';
import { GuardProxy } from './guard-proxy.js';
import { Session, type SessionOptions } from './session.js';
import { UrlGuard } from './url-guard.js';

/** Session ids: what a client may pick (seeds/003's `session_id`), safe inside a stream id. */
export const SESSION_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Stream ids that name a session's screencast: `session:<id>`. */
export const SESSION_STREAM_PREFIX = 'session:';

// Defined beside input:resize, which must keep to the same sizes.
export { VIEWPORT_LIMITS } from './input.js';

export interface RegistryOptions {
  maxSessions: number;
  maxSessionsPerIp: number;
  /** Sessions at once per owner (CreateRequest.owner); 0 = no limit. Sessions without an owner are not counted. @default 0 */
  maxSessionsPerOwner?: number;
  /** A session with neither keepalive nor subscriber for this long is closed. */
  timeoutMs: number;
  /**
   * A session is closed this long after it was created, watched or not (SESSION_MAX_LIFETIME);
   * 0 = no limit. @default DEFAULT_MAX_LIFETIME_MS
   */
  maxLifetimeMs?: number;
  chromePath: string;
  /** User Chromium runs as when framehub runs as root (created if missing). @default 'framehub-browser' */
  browserUser?: string;
  /** A page's process resident over this many MiB is killed (0 = no limit). @default 1024 */
  memoryLimitMb?: number;
  /** Something an operator should know (the browser runs without its sandbox). */
  onWarning?: (message: string) => void;
  browserAllowHosts: string;
  encoder: Encoder;
  idleGraceMs: number;
  /** ms a session's controller must be idle before a non-admin may take control; 0 = never. @default 60000 */
  controlIdleMs?: number;
  onBackgroundError: (error: unknown) => void;
  /**
   * In a cluster: takes the id and a place under the caps for this node, every node's sessions
   * counted, in one step (session-directory.ts); otherwise what refused it (`exists`: another
   * node's session has the id). Unset: ids and caps are this process's alone.
   */
  claimId?: (claim: { id: string; ip: string; owner?: string }, caps: { total: number; ip: number; owner: number }) => Promise<'ok' | 'exists' | 'total' | 'ip' | 'owner'>;
  /**
   * In a cluster: gives up a closed session's id and places (`claimId`), awaited before
   * `delete()` resolves, so a create on any node right after a DELETE's answer finds them free.
   * Never rejects.
   */
  releaseId?: (id: string, reason: CloseReason) => Promise<void>;
}

export type CloseReason = 'deleted' | 'expired' | 'lifetime' | 'shutdown' | 'failed';

/**
 * 4 h: a working day's kiosk or dashboard reconnects at most twice, while a page that leaks
 * (memory, timers, a runaway tab some site opened) is reset a few times a day whatever it does.
 * Keepalives and subscribers do not extend it.
 */
export const DEFAULT_MAX_LIFETIME_MS = 4 * 3600_000;

export interface RegistryEvents {
  'session:closed': { id: string; reason: CloseReason };
}

/** The request cannot be served as asked; its code's HTTP status comes from the error table. */
export class SessionError extends FramehubError {
  override readonly name = 'SessionError';
}

export interface CreateRequest {
  id?: string;
  width: number;
  height: number;
  quality: number;
  fps: number;
  /** Whose the session is (Principal.owner); unset on an open server. */
  owner?: string;
}

/**
 * Every live session: creation within limits (overall, per client IP, per owner), lookup, expiry.
 * Owns the one browser and the guard proxy in front of it.
 */
export class SessionRegistry extends TypedEmitter<RegistryEvents> {
  readonly guard: UrlGuard;
  readonly pool: BrowserPool;
  readonly #proxy: GuardProxy;
  #proxyUrl: Promise<string> | undefined;
  readonly #sessions = new Map<string, Session>();
  /** Sessions whose browser page is still opening: not subject to expiry yet. */
  readonly #starting = new Set<Session>();
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  /** Each session's end of life, cancelled when it closes earlier. */
  readonly #lifetimeTimers = new Map<Session, ReturnType<typeof setTimeout>>();
  readonly #maxLifetimeMs: number;
  #closed = false;

  constructor(private readonly options: RegistryOptions) {
    super();
    this.guard = new UrlGuard(options.browserAllowHosts);
    this.#proxy = new GuardProxy(this.guard);
    this.pool = new BrowserPool(
      () => browserLaunch(options.chromePath, options.browserUser ?? 'framehub-browser', options.onWarning ?? (() => {})),
      () => this.#proxyListening(),
      { rendererMemoryLimitMb: options.memoryLimitMb },
    );
    this.#maxLifetimeMs = options.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS;
    // Often enough that a session outlives its timeout by at most a quarter of it (and ≤ 5 s).
    const every = Math.min(5000, Math.max(250, options.timeoutMs / 4));
    this.#sweepTimer = setInterval(() => this.#sweep(), every);
    this.#sweepTimer.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  list(): Session[] {
    return [...this.#sessions.values()];
  }

  /** For `hub.addResolver`: `session:<id>` → that session's stream. */
  resolveStream = (streamId: string): Stream | undefined => {
    if (!streamId.startsWith(SESSION_STREAM_PREFIX)) return undefined;
    return this.#sessions.get(streamId.slice(SESSION_STREAM_PREFIX.length))?.stream;
  };

  /** The live session whose screencast `stream` is, if any: where input to that stream goes. */
  sessionOf(stream: Stream): Session | undefined {
    if (!stream.id.startsWith(SESSION_STREAM_PREFIX)) return undefined;
    const session = this.#sessions.get(stream.id.slice(SESSION_STREAM_PREFIX.length));
    // A deleted session's id may have been taken again: the stream must be that session's own.
    return session?.stream === stream ? session : undefined;
  }

  /** Creates a session and opens its page; throws `SessionError` (400, 409, 429, 503). */
  async create(request: CreateRequest, ip: string): Promise<Session> {
    if (this.#closed) throw new SessionError(ErrorCode.ShuttingDown, 'the server is shutting down');
    const id = request.id ?? randomBytes(9).toString('base64url');
    if (!SESSION_ID.test(id)) throw new SessionError(ErrorCode.InvalidBody, 'session_id must be 1-64 letters, digits, "_", "." or "-"');
    if (this.#sessions.has(id)) throw new SessionError(ErrorCode.SessionExists, `session ${id} already exists`);
    // This node's own sessions first (all of them, in a cluster too): no Redis round trip for a create that cannot fit.
    const perOwner = this.options.maxSessionsPerOwner ?? 0;
    if (this.#sessions.size >= this.options.maxSessions) throw this.#capRefusal('total', ip, perOwner);
    if (this.list().filter((s) => s.options.ip === ip).length >= this.options.maxSessionsPerIp) throw this.#capRefusal('ip', ip, perOwner);
    if (request.owner !== undefined && perOwner > 0 && this.list().filter((s) => s.options.owner === request.owner).length >= perOwner) {
      throw this.#capRefusal('owner', ip, perOwner);
    }
    const options: SessionOptions = {
      id, width: request.width, height: request.height, quality: request.quality, fps: request.fps, ip,
      ...(request.owner !== undefined && { owner: request.owner }),
    };
    const session = new Session(options, {
      pool: this.pool,
      guard: this.guard,
      encoder: this.options.encoder,
      idleGraceMs: this.options.idleGraceMs,
      ...(this.options.controlIdleMs !== undefined && { controlIdleMs: this.options.controlIdleMs }),
      onBackgroundError: this.options.onBackgroundError,
    });
    // Counted before the browser starts, so concurrent creates cannot overshoot the limits.
    this.#sessions.set(id, session);
    this.pool.setDemand(this.#sessions.size);
    this.#starting.add(session);
    // After the local count: the claim waits for Redis, and concurrent creates here must not overshoot the caps meanwhile.
    const claimed = this.options.claimId
      ? await this.options
        .claimId({ id, ip, ...(request.owner !== undefined && { owner: request.owner }) }, { total: this.options.maxSessions, ip: this.options.maxSessionsPerIp, owner: request.owner === undefined ? 0 : perOwner })
        .catch((error: unknown) => error as Error)
      : 'ok';
    if (claimed !== 'ok') {
      this.#starting.delete(session);
      await this.delete(id, 'failed');
      if (claimed === 'exists') throw new SessionError(ErrorCode.SessionExists, `session ${id} already exists`);
      if (typeof claimed === 'string') throw this.#capRefusal(claimed, ip, perOwner);
      throw new SessionError(ErrorCode.BrowserUnavailable, `could not claim the session id in the cluster: ${claimed.message}`);
    }
    try {
      await session.page();
    } catch (error) {
      this.#starting.delete(session);
      await this.delete(id, 'failed');
      throw new SessionError(ErrorCode.BrowserUnavailable, `could not start a browser page: ${(error as Error).message.split('\n')[0]}`);
    }
    // The timeout runs from when the session is usable, not from when the browser began starting.
    this.#starting.delete(session);
    session.touch();
    if (this.#maxLifetimeMs > 0 && this.#sessions.get(id) === session) {
      session.endsAt = Date.now() + this.#maxLifetimeMs;
      const timer = setTimeout(() => {
        if (this.#sessions.get(id) === session) void this.delete(id, 'lifetime');
      }, this.#maxLifetimeMs);
      timer.unref();
      this.#lifetimeTimers.set(session, timer);
    }
    return session;
  }

  /** The answer to a create past a cap, the same whether this node's count or the cluster's refused it. */
  #capRefusal(cap: 'total' | 'ip' | 'owner', ip: string, perOwner: number): SessionError {
    if (cap === 'total') return new SessionError(ErrorCode.TooManySessions, `too many sessions: ${this.options.maxSessions} at most on this server; delete one or try later`);
    if (cap === 'ip') return new SessionError(ErrorCode.TooManySessions, `too many sessions from ${ip}: ${this.options.maxSessionsPerIp} at most; delete one or try later`);
    return new SessionError(ErrorCode.TooManySessions, `too many sessions of yours: ${perOwner} at most each (MAX_SESSIONS_PER_USER); delete one or try later`);
  }

  async delete(id: string, reason: CloseReason = 'deleted'): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (!session) return false;
    this.#sessions.delete(id);
    this.pool.setDemand(this.#sessions.size);
    clearTimeout(this.#lifetimeTimers.get(session));
    this.#lifetimeTimers.delete(session);
    // Viewers hear this sentence (the stream's fatal notice), as for an idle expiry.
    await session.close(reason === 'lifetime' ? `it reached its maximum lifetime of ${duration(this.#maxLifetimeMs)}` : reason);
    await this.options.releaseId?.(id, reason);
    this.emit('session:closed', { id, reason });
    return true;
  }

  /** Seconds until `session` expires; `null` while something watches it. */
  expiresIn(session: Session): number | null {
    if (session.stream.subscriberCount > 0) return null;
    return Math.max(0, Math.round((session.lastActivity + this.options.timeoutMs - Date.now()) / 1000));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    await Promise.all(this.list().map((session) => this.delete(session.id, 'shutdown')));
    await this.pool.close();
    if (this.#proxyUrl) await this.#proxy.close();
  }

  #proxyListening(): Promise<string> {
    this.#proxyUrl ??= this.#proxy.listen();
    return this.#proxyUrl;
  }

  #sweep(): void {
    const now = Date.now();
    for (const session of this.#sessions.values()) {
      // A subscriber is a keepalive (seeds/003: "frame subscriptions automatically act as keepalive").
      if (session.stream.subscriberCount > 0 || this.#starting.has(session)) session.touch();
      else if (now - session.lastActivity >= this.options.timeoutMs) void this.delete(session.id, 'expired');
    }
  }
}

/** `4 h`, `90 min`, `5 s`: a lifetime as a person would say it. */
function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
