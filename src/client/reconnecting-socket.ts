import { CloseCode } from '../wire/close-codes.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { ExponentialBackoff, type ReconnectPolicy } from '../util/reconnect-policy.js';
import { OPEN, resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from './websocket-impl.js';

/**
 * The one connection state machine under PixelSocket, WebSocketClient and StreamClient: connect,
 * lose the connection, wait as the policy says, try again with a fresh token, notice a dead peer.
 *
 * Several URLs (the nodes of one cluster) fail over round robin: the first attempt goes to the
 * first URL; every failed attempt or lost connection moves the next attempt to the next URL. A
 * URL that has not failed since the last stable connection is tried at once (delay 0), so a dead
 * node costs no wait; only once every URL has failed in a row does each further attempt wait the
 * policy's delay. The policy is still asked before every attempt, free ones included: its attempt
 * limit counts attempts as with one URL and a close code it stops on (4401, …) stops failover too.
 * A connection that stayed open `STABLE_CONNECTION_MS` ends the run of failures; one closed
 * sooner continues it (a node that accepts and closes at once counts as failed, or two such nodes
 * would have the client reconnect in a tight loop). Neither resets the position: after losing
 * node B the client tries C, not A. `connect()` starts at the first URL.
 */

/**
 * How long a connection must have stayed open for its loss to start a fresh round of immediate
 * moves to the next URL (with several URLs; one URL always waits the policy's delay).
 */
export const STABLE_CONNECTION_MS = 5000;

export type ConnectionState = 'connecting' | 'connected' | 'disconnecting' | 'disconnected';

export const ConnectionStates = {
  Connecting: 'connecting',
  Connected: 'connected',
  Disconnecting: 'disconnecting',
  Disconnected: 'disconnected',
} as const satisfies Record<string, ConnectionState>;

/** Where an error came from. `handler` is a user callback that threw. */
export type ErrorContext = 'connection' | 'send' | 'parse' | 'handler';

export interface StateChangeEvent {
  oldState: ConnectionState;
  newState: ConnectionState;
}

export interface SocketEvents {
  'state:change': StateChangeEvent;
  open: { url: string };
  /** Text arrives as a string, binary as bytes. */
  message: { data: string | Uint8Array };
  close: { code: number; reason: string; willReconnect: boolean };
  /** A reconnect attempt is scheduled `delay` ms from now. */
  reconnecting: { attempt: number; delay: number };
  /** The policy gave up after `attempts` attempts. */
  'reconnect:failed': { attempts: number };
  heartbeat: { sentAt: number };
  error: { error: Error; context: ErrorContext };
}

export const SocketEvent = {
  StateChange: 'state:change',
  Open: 'open',
  Message: 'message',
  Close: 'close',
  Reconnecting: 'reconnecting',
  ReconnectFailed: 'reconnect:failed',
  Heartbeat: 'heartbeat',
  Error: 'error',
} as const satisfies Record<string, keyof SocketEvents>;

export type TokenProvider = () => Promise<string> | string;

export interface ReconnectingSocketOptions {
  /**
   * A `ws://` or `wss://` URL, or several (the nodes of one cluster), tried round robin as
   * described above. Token and `?<resumeParam>=` are added to whichever URL an attempt uses.
   */
  url: string | readonly string[];
  /** @default ExponentialBackoff (1 s doubling up to 30 s, 10 % jitter, no attempt limit) */
  policy?: ReconnectPolicy;
  /** Called before every attempt; a non-empty token is sent as `?<tokenParam>=`. */
  getToken?: TokenProvider;
  /** @default 'token' */
  tokenParam?: string;
  /** Query parameter that offers the last event id on reconnect. @default 'since' */
  resumeParam?: string;
  /** Heartbeat period in ms; 0 turns heartbeat and dead-peer detection off. @default 0 */
  heartbeatInterval?: number;
  /** The heartbeat text; `undefined` sends nothing (then only `deadPeer: 'on-silence'` can detect anything). */
  heartbeatMessage?: () => string | undefined;
  /**
   * When nothing received for two heartbeat periods counts as a dead peer.
   * `'after-answer'`: only once the peer has answered a heartbeat on this connection (the layer
   * that parses messages calls `heartbeatAnswered()`); a server that never answers heartbeats is
   * never dropped for being quiet. `'on-silence'`: always; for peers known to send all the time.
   * @default 'after-answer'
   */
  deadPeer?: 'after-answer' | 'on-silence';
  /** @default the global `WebSocket`, else `ws` */
  WebSocket?: WebSocketConstructor;
  protocols?: string | string[];
  /** Time and timers; injectable so backoff and heartbeat can be tested without waiting. */
  clock?: Clock;
  /** `true` logs to `console.debug`; a function receives every line. @default false */
  debug?: boolean | ((line: string) => void);
  /** Prefix of debug lines. @default 'framehub' */
  name?: string;
  /** How long `disconnect()` waits for the closing handshake before dropping the socket. @default 3000 */
  closeTimeout?: number;
}

/** Close code used when the peer went silent (`CloseCode.HeartbeatTimeout`, 4000). */
export const HEARTBEAT_TIMEOUT_CODE = CloseCode.HeartbeatTimeout;

interface PendingConnect {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class ReconnectingSocket extends TypedEmitter<SocketEvents> {
  readonly options: Readonly<Required<Omit<ReconnectingSocketOptions, 'getToken' | 'WebSocket' | 'protocols' | 'heartbeatMessage' | 'debug'>>> & ReconnectingSocketOptions;

  #state: ConnectionState = 'disconnected';
  #ws: WebSocketLike | null = null;
  /** Attempts since the last successful open; 0 while connected. */
  #attempt = 0;
  /** Bumped by `disconnect()` so a token fetch or timer from before it cannot revive the socket. */
  #generation = 0;
  #retryTimer: TimerHandle | undefined;
  #heartbeatTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #lastReceivedAt = 0;
  /** The peer has answered a heartbeat on the current connection: silence now means trouble. */
  #peerAnswers = false;
  #lastEventId: string | undefined;
  #pending: PendingConnect | undefined;
  #lastError: Error | undefined;
  readonly #urls: readonly string[];
  /** Index in `#urls` of the URL the next (or current) attempt uses. */
  #urlIndex = 0;
  /** Attempts that failed in a row since the last stable connection (a lost connection counts as one). */
  #failedInRow = 0;
  /** When the current connection opened; undefined while there is none. */
  #openedAt: number | undefined;
  readonly #clock: Clock;
  readonly #log: ((line: string) => void) | undefined;

  constructor(options: ReconnectingSocketOptions) {
    super();
    this.options = {
      policy: new ExponentialBackoff(),
      tokenParam: 'token',
      resumeParam: 'since',
      heartbeatInterval: 0,
      deadPeer: 'after-answer',
      clock: systemClock,
      name: 'framehub',
      closeTimeout: 3000,
      ...options,
    };
    this.#urls = checkUrls(options.url, this.options.tokenParam);
    this.#clock = this.options.clock;
    const { debug, name } = this.options;
    this.#log = typeof debug === 'function' ? debug : debug ? (line) => console.debug(`[${name}] ${line}`) : undefined;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Attempts made since the last successful connection. */
  get reconnectAttempts(): number {
    return this.#attempt;
  }

  /** The last event id the server sent; offered as `?since=` on reconnect. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** Layers that parse messages report event ids here (the core does not parse JSON). */
  rememberEventId(id: string | number): void {
    this.#lastEventId = String(id);
  }

  /**
   * Layers that parse messages call this when the peer answered a heartbeat; from then on, on
   * this connection, two silent heartbeat periods drop it (`deadPeer: 'after-answer'`).
   */
  heartbeatAnswered(): void {
    if (this.#peerAnswers || this.#state !== 'connected') return;
    this.#peerAnswers = true;
    this.#debug('peer answers heartbeats: dead-peer detection armed');
  }

  /**
   * Opens the connection. Resolves once connected (after retries, if the policy allows them);
   * rejects when the policy gives up or the URL is unusable; resolves without connecting when
   * `disconnect()` is called meanwhile (cancelling is not a failure).
   */
  connect(): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    if (this.#pending) return this.#pending.promise;
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    this.#pending = { promise, resolve, reject };
    // Finishing an old close, or a retry already on its way: that attempt settles this promise.
    if (this.#state === 'disconnecting' || this.#state === 'connecting' || this.#retryTimer !== undefined) return promise;
    this.#startOver();
    void this.#open();
    return promise;
  }

  /** Closes the connection and cancels every pending reconnect. Safe to call twice. */
  disconnect(code = 1000, reason = 'client disconnect'): void {
    this.#generation++;
    this.#clearTimer('retry');
    this.#stopHeartbeat();
    const pending = this.#pending;
    this.#pending = undefined;
    const ws = this.#ws;
    if (ws) {
      this.#setState('disconnecting');
      try {
        ws.close(code, reason);
      } catch (error) {
        this.#debug(`close failed: ${(error as Error).message}`);
      }
      // A dead peer never answers the closing handshake; do not wait for it forever.
      this.#closeTimer = this.#clock.setTimeout(() => this.#onClosed(ws, code, reason), this.options.closeTimeout);
    } else {
      this.#setState('disconnected');
    }
    pending?.resolve();
  }

  /** Sends text or bytes; throws when not connected. */
  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    const ws = this.#ws;
    if (this.#state !== 'connected' || !ws || ws.readyState !== OPEN) {
      throw new Error(`cannot send: socket is ${this.#state}`);
    }
    ws.send(data);
    this.#debug(`send ${describeData(data)}`);
  }

  protected override onListenerError(error: unknown, event: keyof SocketEvents): void {
    if (event === 'error') {
      // An error handler that throws has nowhere left to report to.
      console.error(error);
      return;
    }
    this.emit('error', { error: toError(error), context: 'handler' });
  }

  async #open(): Promise<void> {
    const generation = this.#generation;
    this.#setState('connecting');
    let url: string;
    try {
      url = await this.#attemptUrl();
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#emitError(toError(error), 'connection');
      this.#scheduleRetry(1006, 'token provider failed');
      return;
    }
    if (generation !== this.#generation) return;
    let ws: WebSocketLike;
    try {
      const Impl = this.options.WebSocket ?? (await resolveWebSocket());
      if (generation !== this.#generation) return;
      ws = new Impl(url, this.options.protocols);
    } catch (error) {
      // A malformed URL or a missing implementation will not get better by retrying.
      this.#emitError(toError(error), 'connection');
      this.#setState('disconnected');
      this.#failPending(toError(error));
      return;
    }
    this.#debug(`connecting to ${redact(url, this.options.tokenParam)}`);
    this.#ws = ws;
    this.#lastError = undefined;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.#onOpen(ws, url);
    ws.onmessage = (event) => this.#onMessage(ws, event.data);
    ws.onerror = (event) => this.#onError(ws, event);
    ws.onclose = (event) => this.#onClosed(ws, event.code, event.reason);
  }

  /** A fresh `connect()`: attempts counted from 0 again, starting at the first URL. */
  #startOver(): void {
    this.#attempt = 0;
    this.#urlIndex = 0;
    this.#failedInRow = 0;
    this.#openedAt = undefined;
  }

  async #attemptUrl(): Promise<string> {
    const url = new URL(this.#urls[this.#urlIndex]!);
    if (this.options.getToken) {
      const token = await this.options.getToken();
      if (typeof token !== 'string') throw new TypeError(`token provider returned ${typeof token}, not a string`);
      if (token !== '') url.searchParams.set(this.options.tokenParam, token);
    }
    if (this.#lastEventId !== undefined && this.options.resumeParam) {
      url.searchParams.set(this.options.resumeParam, this.#lastEventId);
    }
    return url.toString();
  }

  #onOpen(ws: WebSocketLike, url: string): void {
    if (ws !== this.#ws) return;
    this.#attempt = 0;
    this.#openedAt = this.#clock.now();
    this.#lastReceivedAt = this.#clock.now();
    this.#peerAnswers = false;
    this.#setState('connected');
    this.#startHeartbeat();
    const pending = this.#pending;
    this.#pending = undefined;
    this.emit('open', { url: redact(url, this.options.tokenParam) });
    pending?.resolve();
  }

  #onMessage(ws: WebSocketLike, raw: unknown): void {
    if (ws !== this.#ws) return;
    this.#lastReceivedAt = this.#clock.now();
    let data: string | Uint8Array;
    if (typeof raw === 'string') data = raw;
    else if (raw instanceof ArrayBuffer) data = new Uint8Array(raw);
    else if (ArrayBuffer.isView(raw)) data = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    else {
      this.#emitError(new Error(`unsupported message payload ${Object.prototype.toString.call(raw)}`), 'parse');
      return;
    }
    if (this.#log) this.#debug(`receive ${describeData(data)}`);
    this.emit('message', { data });
  }

  #onError(ws: WebSocketLike, event: unknown): void {
    if (ws !== this.#ws || this.#state === 'disconnecting') return;
    // Browsers hide the reason of a failed connection; `ws` and Deno put it on the event.
    const detail = (event as { error?: unknown; message?: unknown } | null);
    const error = detail?.error instanceof Error ? detail.error
      : new Error(typeof detail?.message === 'string' && detail.message ? detail.message : 'WebSocket error');
    this.#lastError = error;
    this.#emitError(error, 'connection');
  }

  #onClosed(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    detach(ws);
    this.#ws = null;
    this.#clearTimer('close');
    this.#stopHeartbeat();
    const openedAt = this.#openedAt;
    this.#openedAt = undefined;
    this.#debug(`closed ${code}${reason ? ` ${reason}` : ''}`);
    if (this.#state === 'disconnecting') {
      this.#setState('disconnected');
      this.emit('close', { code, reason, willReconnect: false });
      // connect() was called while we were closing: start over now.
      if (this.#pending) {
        this.#startOver();
        void this.#open();
      }
      return;
    }
    // A connection that lasted was a success: the failures before it no longer count.
    if (openedAt !== undefined && this.#clock.now() - openedAt >= STABLE_CONNECTION_MS) this.#failedInRow = 0;
    this.#scheduleRetry(code, reason);
  }

  #scheduleRetry(code: number, reason: string): void {
    const attempt = this.#attempt + 1;
    const failed = this.#urls[this.#urlIndex]!;
    this.#failedInRow++;
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
    // The policy decides whether to go on (close codes, attempt limit) for every attempt; the
    // wait is skipped while the next URL has not failed since the last open: it may well be up.
    const policyDelay = this.options.policy.nextDelay(attempt, { code, reason });
    const delay = policyDelay !== null && this.#failedInRow < this.#urls.length ? 0 : policyDelay;
    this.#setState('disconnected');
    this.emit('close', { code, reason, willReconnect: delay !== null });
    if (delay === null) {
      this.#debug(`giving up after ${this.#attempt} attempt(s)`);
      this.emit('reconnect:failed', { attempts: this.#attempt });
      const cause = this.#lastError;
      const tried = (this.#urls.length === 1 ? [failed] : this.#urls).map((u) => redact(u, this.options.tokenParam)).join(', ');
      this.#failPending(new Error(`could not connect to ${tried}` +
        `${this.#attempt > 0 ? ` after ${this.#attempt} reconnect attempt(s)` : ''} (last close ${code}${reason ? ` ${reason}` : ''})`, { cause }));
      return;
    }
    this.#attempt = attempt;
    this.#debug(`reconnect attempt ${attempt} in ${delay} ms to ${redact(this.#urls[this.#urlIndex]!, this.options.tokenParam)}`);
    this.emit('reconnecting', { attempt, delay });
    const generation = this.#generation;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (generation === this.#generation) void this.#open();
    }, delay);
  }

  #startHeartbeat(): void {
    const interval = this.options.heartbeatInterval;
    if (!(interval > 0)) return;
    const tick = () => {
      const ws = this.#ws;
      if (!ws || this.#state !== 'connected') return;
      const silentFor = this.#clock.now() - this.#lastReceivedAt;
      const armed = this.#peerAnswers || this.options.deadPeer === 'on-silence';
      if (armed && silentFor >= 2 * interval) {
        this.#debug(`nothing received for ${Math.round(silentFor)} ms: peer presumed dead`);
        this.#dropDeadPeer(ws);
        return;
      }
      const message = this.options.heartbeatMessage?.();
      if (message !== undefined) {
        try {
          ws.send(message);
          this.#debug('heartbeat sent');
          this.emit('heartbeat', { sentAt: this.#clock.now() });
        } catch (error) {
          this.#emitError(toError(error), 'send');
        }
      }
      this.#heartbeatTimer = this.#clock.setTimeout(tick, interval);
    };
    this.#heartbeatTimer = this.#clock.setTimeout(tick, interval);
  }

  #stopHeartbeat(): void {
    this.#clearTimer('heartbeat');
  }

  #dropDeadPeer(ws: WebSocketLike): void {
    const reason = 'heartbeat timeout';
    try {
      // `ws` can drop the TCP connection at once; the WHATWG API can only start a close.
      if (ws.terminate) ws.terminate();
      else ws.close(HEARTBEAT_TIMEOUT_CODE, reason);
    } catch (error) {
      this.#debug(`close failed: ${(error as Error).message}`);
    }
    this.#onClosed(ws, HEARTBEAT_TIMEOUT_CODE, reason);
  }

  #failPending(error: Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }

  #clearTimer(which: 'retry' | 'heartbeat' | 'close'): void {
    const handle = which === 'retry' ? this.#retryTimer : which === 'heartbeat' ? this.#heartbeatTimer : this.#closeTimer;
    if (handle !== undefined) this.#clock.clearTimeout(handle);
    if (which === 'retry') this.#retryTimer = undefined;
    else if (which === 'heartbeat') this.#heartbeatTimer = undefined;
    else this.#closeTimer = undefined;
  }

  #emitError(error: Error, context: ErrorContext): void {
    this.#debug(`error (${context}): ${error.message}`);
    this.emit('error', { error, context });
  }

  /** The one place state changes: ignores no-op changes, logs `old -> new`, emits one event. */
  #setState(newState: ConnectionState): void {
    const oldState = this.#state;
    if (oldState === newState) return;
    this.#state = newState;
    this.#debug(`state ${oldState} -> ${newState}`);
    this.emit('state:change', { oldState, newState });
  }

  #debug(line: string): void {
    this.#log?.(line);
  }
}

/**
 * The `url` option as a list, checked: non-empty, every entry a ws:// or wss:// URL. An http(s)
 * URL is taken as ws(s), as browsers' WebSocket and `ws` take it (clients passed one before lists).
 */
function checkUrls(url: unknown, tokenParam: string): readonly string[] {
  const list: unknown[] = typeof url === 'string' ? [url] : Array.isArray(url) ? [...url] : [];
  if (list.length === 0) throw new TypeError('url must be a non-empty string or a non-empty list of them');
  return list.map((entry) => {
    if (typeof entry !== 'string' || entry === '') throw new TypeError('url must be a non-empty string or a non-empty list of them');
    let parsed: URL;
    try {
      parsed = new URL(entry);
    } catch {
      throw new TypeError(`url must be a ws:// or wss:// URL (got "${redact(entry, tokenParam)}")`);
    }
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return `ws${entry.slice(4)}`;
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new TypeError(`url must be a ws:// or wss:// URL (got "${redact(entry, tokenParam)}")`);
    return entry;
  });
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  // Keep a no-op error listener: `ws` throws on an 'error' event nobody listens to.
  ws.onerror = () => {};
}

function describeData(data: string | ArrayBufferLike | ArrayBufferView): string {
  if (typeof data === 'string') return `text (${data.length} chars)${data.length <= 120 ? `: ${data}` : ''}`;
  return `binary (${data.byteLength} bytes)`;
}

/** The URL with its token replaced, so logs and errors never carry credentials. */
function redact(url: string, tokenParam: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.searchParams.has(tokenParam)) parsed.searchParams.set(tokenParam, '***');
    return parsed.toString();
  } catch {
    return url;
  }
}

export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(typeof value === 'string' ? value : String(value));
}
