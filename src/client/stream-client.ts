import type { ImageFormat } from '../image/sniff.js';
import type { StreamJsonCommand, StreamJsonError, StreamJsonFrame, StreamJsonOptions, StreamJsonStats } from '../wire/stream-json.js';
import type { Clock } from '../util/clock.js';
import { ExponentialBackoff, type ReconnectPolicy } from '../util/reconnect-policy.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { StopOnCloseCodes } from './close-code-policy.js';
import { parseJsonObjectMessage } from './json-message.js';
import { routeUrls } from './server-urls.js';
import {
  ReconnectingSocket, toError, type ConnectionState, type ErrorContext, type SocketEvents, type StateChangeEvent, type TokenProvider,
} from './reconnecting-socket.js';
import type { WebSocketConstructor } from './websocket-impl.js';

/**
 * seeds/002's JSON stream protocol (`WS /stream/:id?fps=&quality=&format=`) over the shared
 * reconnecting core: typed `frame`, `screenshot`, `stats`, `error` and `status` messages in,
 * `update_options` and `take_screenshot` commands out. The web viewer at `/` runs on it.
 */

export type { StreamJsonFrame as StreamFrame, StreamJsonStats as StreamStats, StreamJsonError as StreamServerError };
export type StreamOptions = StreamJsonOptions;

export interface StreamClientOptions {
  /**
   * The server: `ws://host:8080` (`http(s)://` is taken as `ws(s)://`), or several (a cluster's
   * nodes, each serving every stream): on a failure the next is tried at once, round robin.
   */
  url: string | readonly string[];
  /** Stream id; `0` is the server's primary stream. @default '0' */
  stream?: string;
  /** @default 10 */
  fps?: number;
  /** @default 80 */
  quality?: number;
  /** @default 'jpeg' */
  format?: ImageFormat;
  /**
   * When to reconnect. @default StopOnCloseCodes(ExponentialBackoff()): 1 s doubling up to
   * 30 s, but never after a final close code (4404 unknown stream, 4401 token refused, …).
   */
  reconnectPolicy?: ReconnectPolicy;
  getToken?: TokenProvider;
  debug?: boolean | ((line: string) => void);
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
}

/** A `frame` or `screenshot` as received: its data, its size on the wire and when it came. */
export interface StreamFrameEvent {
  frame: StreamJsonFrame;
  /** Characters of the message (JSON text is ASCII: bytes). */
  bytes: number;
  /** `Date.now()` on arrival. */
  receivedAt: number;
}

export interface StreamClientEvents {
  'state:change': StateChangeEvent;
  open: SocketEvents['open'];
  close: SocketEvents['close'];
  reconnecting: SocketEvents['reconnecting'];
  'reconnect:failed': SocketEvents['reconnect:failed'];
  frame: StreamFrameEvent;
  /** The full-quality still asked for with `takeScreenshot()`. */
  screenshot: StreamFrameEvent;
  /** The server's per-connection figures, once a second. */
  stats: { stats: StreamJsonStats; bytes: number };
  /** An `error` message from the server (the connection may go on, or close right after). */
  'server-error': StreamJsonError;
  /** Source status from the server (`status` message). */
  status: { message: string };
  /** Something went wrong on this side: connection, send, an unreadable message, a throwing handler. */
  error: { error: Error; context: ErrorContext };
}

export const StreamClientEvent = {
  StateChange: 'state:change',
  Open: 'open',
  Close: 'close',
  Reconnecting: 'reconnecting',
  ReconnectFailed: 'reconnect:failed',
  Frame: 'frame',
  Screenshot: 'screenshot',
  Stats: 'stats',
  ServerError: 'server-error',
  Status: 'status',
  Error: 'error',
} as const satisfies Record<string, keyof StreamClientEvents>;

/** One server message of seeds/002, or `undefined` for a type this client does not know. */
export type StreamMessage =
  | { type: 'frame' | 'screenshot'; data: StreamJsonFrame }
  | { type: 'stats'; data: StreamJsonStats }
  | { type: 'error'; error: StreamJsonError }
  | { type: 'status'; data: { message: string } };

export class StreamClient extends TypedEmitter<StreamClientEvents> {
  readonly stream: string;
  readonly #socket: ReconnectingSocket;
  /** The options as the server has them: the connection URL's, then every update sent. */
  #options: StreamJsonOptions;
  /** The options in the connection URL; a reconnect after updates sends the difference. */
  readonly #urlOptions: StreamJsonOptions;

  constructor(options: StreamClientOptions) {
    super();
    this.stream = options.stream ?? '0';
    this.#options = { fps: options.fps ?? 10, quality: options.quality ?? 80, format: options.format ?? 'jpeg' };
    this.#urlOptions = { ...this.#options };
    const query = new URLSearchParams({ fps: String(this.#options.fps), quality: String(this.#options.quality), format: this.#options.format });
    this.#socket = new ReconnectingSocket({
      url: routeUrls(options.url, `/stream/${encodeURIComponent(this.stream)}?${query}`),
      name: 'StreamClient',
      policy: options.reconnectPolicy ?? new StopOnCloseCodes(new ExponentialBackoff()),
      // seeds/002 has no event ids to resume from.
      resumeParam: '',
      ...(options.getToken && { getToken: options.getToken }),
      ...(options.debug !== undefined && { debug: options.debug }),
      ...(options.WebSocket && { WebSocket: options.WebSocket }),
      ...(options.clock && { clock: options.clock }),
    });
    this.#socket.on('state:change', (event) => this.emit('state:change', event));
    this.#socket.on('open', this.#onOpen);
    this.#socket.on('close', (event) => this.emit('close', event));
    this.#socket.on('reconnecting', (event) => this.emit('reconnecting', event));
    this.#socket.on('reconnect:failed', (event) => this.emit('reconnect:failed', event));
    this.#socket.on('error', (event) => this.emit('error', event));
    this.#socket.on('message', this.#onMessage);
  }

  get state(): ConnectionState {
    return this.#socket.state;
  }

  /** The stream options the server was last asked for. */
  get options(): Readonly<StreamJsonOptions> {
    return this.#options;
  }

  /**
   * Opens the stream. Resolves once connected; rejects when the policy gives up (by default at
   * once on a final close code such as 4404 for an unknown stream).
   */
  connect(): Promise<void> {
    return this.#socket.connect();
  }

  /** Closes the stream and cancels any pending reconnect. Safe to call twice. */
  disconnect(): void {
    this.#socket.disconnect(1000, 'client disconnect');
  }

  /** Sends `update_options`; only the given fields change. Returns false when not connected. */
  updateOptions(changes: Partial<StreamJsonOptions>): boolean {
    if (!this.#send({ command: 'update_options', options: changes })) return false;
    this.#options = { ...this.#options, ...changes };
    return true;
  }

  /** Asks for one full-quality still; it arrives as a `screenshot` event. False when not connected. */
  takeScreenshot(): boolean {
    return this.#send({ command: 'take_screenshot' });
  }

  protected override onListenerError(error: unknown, event: keyof StreamClientEvents): void {
    if (event === 'error') {
      console.error('StreamClient error handler threw', error);
      return;
    }
    this.emit('error', { error: new Error(`handler for "${String(event)}" threw: ${toError(error).message}`, { cause: error }), context: 'handler' });
  }

  #send(command: StreamJsonCommand): boolean {
    if (this.#socket.state !== 'connected') return false;
    try {
      this.#socket.send(JSON.stringify(command));
      return true;
    } catch (error) {
      this.emit('error', { error: toError(error), context: 'send' });
      return false;
    }
  }

  readonly #onOpen = (event: SocketEvents['open']) => {
    // A reconnect opens with the URL's options; ask again for what was changed since.
    const changed: Partial<StreamJsonOptions> = {};
    for (const key of ['fps', 'quality', 'format'] as const) {
      if (this.#options[key] !== this.#urlOptions[key]) (changed as Record<string, unknown>)[key] = this.#options[key];
    }
    if (Object.keys(changed).length > 0) this.#send({ command: 'update_options', options: changed });
    this.emit('open', event);
  };

  readonly #onMessage = ({ data }: { data: string | Uint8Array }) => {
    const receivedAt = Date.now();
    const message = parseStreamMessage(data);
    if (message instanceof Error) {
      this.emit('error', { error: message, context: 'parse' });
      return;
    }
    if (!message) return;
    const bytes = (data as string).length;
    switch (message.type) {
      case 'frame':
      case 'screenshot':
        this.emit(message.type, { frame: message.data, bytes, receivedAt });
        return;
      case 'stats':
        this.emit('stats', { stats: message.data, bytes });
        return;
      case 'error':
        this.emit('server-error', message.error);
        return;
      case 'status':
        this.emit('status', message.data);
        return;
    }
  };
}

/**
 * Reads one server message of seeds/002. An unknown `type` gives `undefined` (newer servers may
 * add types; an older client ignores them); anything unreadable gives the reason as an Error.
 */
export function parseStreamMessage(data: string | Uint8Array): StreamMessage | undefined | Error {
  const message = parseJsonObjectMessage(data, 'this route speaks JSON text');
  if (message instanceof Error) return message;
  const type = message['type'];
  const body = message['data'];
  const hasData = typeof body === 'object' && body !== null && !Array.isArray(body);
  switch (type) {
    case 'frame':
    case 'screenshot': {
      const frame = body as Partial<StreamJsonFrame>;
      if (!hasData || typeof frame.data_url !== 'string') return new Error(`"${type}" message without data.data_url`);
      return { type, data: frame as StreamJsonFrame };
    }
    case 'stats':
      return hasData ? { type, data: body as StreamJsonStats } : new Error('"stats" message without data');
    case 'error': {
      const error = (message['error'] ?? {}) as Record<string, unknown>;
      return { type, error: { code: String(error['code'] ?? 'unknown'), message: String(error['message'] ?? 'unknown error') } };
    }
    case 'status':
      return { type, data: { message: String(hasData ? (body as Record<string, unknown>)['message'] ?? '' : '') } };
    default:
      return typeof type === 'string' ? undefined : new Error('server message has no string "type"');
  }
}
