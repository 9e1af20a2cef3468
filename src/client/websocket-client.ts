import type { Clock } from '../util/clock.js';
import { TypedEmitter, type Listener } from '../util/typed-emitter.js';
import { ExponentialBackoff, NO_RECONNECT, type ReconnectPolicy } from '../util/reconnect-policy.js';
import {
  ReconnectingSocket, toError, type ConnectionState, type ErrorContext, type StateChangeEvent,
} from './reconnecting-socket.js';
import type { WebSocketConstructor } from './websocket-impl.js';
import { parseJsonObjectMessage } from './json-message.js';
import type {
  CompletedPayload, EnvelopeType, FailedPayload, NotificationPayload, ProgressPayload, StartedPayload,
} from '../wire/envelope.js';

/** seeds/001's WebSocketClient: typed `{type, payload, timestamp}` events over the shared core. */

export type { ConnectionState, StateChangeEvent, ErrorContext };

export interface BaseEvent {
  type: string;
  payload: Record<string, unknown>;
  timestamp: string;
  /** Event id, when the server numbers its events (offered back as `?since=` on reconnect). */
  id?: string | number;
}

// The payloads are the server's own types (src/wire/envelope.ts), written once for both sides.
export interface ImageGenerationStartedEvent extends BaseEvent {
  type: typeof EnvelopeType.Started;
  payload: StartedPayload & Record<string, unknown>;
}

export interface ImageGenerationProgressEvent extends BaseEvent {
  type: typeof EnvelopeType.Progress;
  payload: ProgressPayload & Record<string, unknown>;
}

export interface ImageGenerationCompletedEvent extends BaseEvent {
  type: typeof EnvelopeType.Completed;
  payload: CompletedPayload & Record<string, unknown>;
}

export interface ImageGenerationFailedEvent extends BaseEvent {
  type: typeof EnvelopeType.Failed;
  payload: FailedPayload & Record<string, unknown>;
}

export interface SystemNotificationEvent extends BaseEvent {
  type: typeof EnvelopeType.Notification;
  payload: NotificationPayload & Record<string, unknown>;
}

/** `url` (framehub extension): the server URL connected to, token redacted; says which node when several are listed. */
export interface ConnectedEvent { timestamp: string; url: string }
export interface DisconnectedEvent { code: number; reason: string; willReconnect: boolean; timestamp: string }
export interface ErrorEvent { error: Error; context: ErrorContext; timestamp: string }
/** framehub extension: a reconnect attempt is scheduled `delay` ms from now. */
export interface ReconnectingEvent { attempt: number; delay: number; timestamp: string }

export interface EventTypeMap {
  'image.generation.started': ImageGenerationStartedEvent;
  'image.generation.progress': ImageGenerationProgressEvent;
  'image.generation.completed': ImageGenerationCompletedEvent;
  'image.generation.failed': ImageGenerationFailedEvent;
  'system.notification': SystemNotificationEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  reconnecting: ReconnectingEvent;
  'state:change': StateChangeEvent;
  error: ErrorEvent;
  /** framehub extension: every server event, known type or not. */
  message: BaseEvent;
}

export type EventHandler<T> = (event: T) => void;

export const ClientEvent = {
  Connected: 'connected',
  Disconnected: 'disconnected',
  Reconnecting: 'reconnecting',
  StateChange: 'state:change',
  Error: 'error',
  Message: 'message',
} as const satisfies Record<string, keyof EventTypeMap>;

const CLIENT_EVENTS: ReadonlySet<string> = new Set(Object.values(ClientEvent));

/** framehub's `/ws` answers each `heartbeat` with this; seeing one arms dead-peer detection. */
const HEARTBEAT_ANSWER = 'heartbeat.ack';

export interface WebSocketClientOptions {
  /** @default 1000 */
  initialReconnectDelay?: number;
  /** @default 30000 */
  maxReconnectDelay?: number;
  /**
   * Heartbeat period; 0 turns heartbeats off. Once the server has answered a heartbeat
   * (`heartbeat.ack`) on a connection, nothing received for two periods means a dead peer; a
   * server that never answers is never dropped for being quiet. @default 30000
   */
  heartbeatInterval?: number;
  /** @default true */
  autoReconnect?: boolean;
  /** @default false */
  debug?: boolean | ((line: string) => void);

  // framehub extensions (not in seeds/001)
  /** Fraction of each delay added or removed at random. @default 0.1 */
  jitter?: number;
  /** @default Infinity */
  maxReconnectAttempts?: number;
  /** Replaces the exponential backoff built from the options above. */
  reconnectPolicy?: ReconnectPolicy;
  /** @default 'token' */
  tokenParam?: string;
  /** @default 'since' */
  resumeParam?: string;
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
}

/** Required payload fields of the known server events, checked before a handler sees them. */
const PAYLOAD_CHECKS: Record<string, Array<[field: string, type: 'string' | 'number']>> = {
  'image.generation.started': [['job_id', 'string']],
  'image.generation.progress': [['progress', 'number']],
  'image.generation.completed': [['job_id', 'string'], ['image_url', 'string']],
  'image.generation.failed': [['job_id', 'string'], ['error', 'string']],
  'system.notification': [['severity', 'string'], ['message', 'string']],
};

export class WebSocketClient extends TypedEmitter<EventTypeMap> {
  readonly #socket: ReconnectingSocket;

  /**
   * @param url `ws(s)://host/ws`, or several (a cluster's nodes): on a failure the next is tried
   *   at once, round robin, resuming with `?since=` the last event id; the backoff applies once
   *   every URL failed in a row.
   */
  constructor(url: string | readonly string[], getToken: () => Promise<string>, options: WebSocketClientOptions = {}) {
    super();
    const policy = options.autoReconnect === false ? NO_RECONNECT : options.reconnectPolicy ?? new ExponentialBackoff({
      initialDelay: options.initialReconnectDelay ?? 1000,
      maxDelay: options.maxReconnectDelay ?? 30000,
      jitter: options.jitter ?? 0.1,
      maxAttempts: options.maxReconnectAttempts ?? Infinity,
    });
    this.#socket = new ReconnectingSocket({
      url,
      getToken,
      policy,
      name: 'WebSocketClient',
      heartbeatInterval: options.heartbeatInterval ?? 30000,
      heartbeatMessage: () => JSON.stringify({ type: 'heartbeat', payload: {}, timestamp: new Date().toISOString() }),
      ...(options.tokenParam && { tokenParam: options.tokenParam }),
      ...(options.resumeParam && { resumeParam: options.resumeParam }),
      ...(options.debug !== undefined && { debug: options.debug }),
      ...(options.WebSocket && { WebSocket: options.WebSocket }),
      ...(options.clock && { clock: options.clock }),
    });
    this.#socket.on('state:change', this.#onStateChange);
    this.#socket.on('open', this.#onOpen);
    this.#socket.on('close', this.#onClose);
    this.#socket.on('reconnecting', this.#onReconnecting);
    this.#socket.on('error', this.#onSocketError);
    this.#socket.on('message', this.#onMessage);
  }

  get state(): ConnectionState {
    return this.#socket.state;
  }

  /** Fetches a token via `getToken()` and connects; resolves once connected. */
  connect(): Promise<void> {
    return this.#socket.connect();
  }

  /** Disconnects and cancels any pending reconnection. */
  disconnect(): void {
    this.#socket.disconnect();
  }

  /** Sends one event as JSON. Throws when not connected. */
  send(event: BaseEvent): void {
    try {
      if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
        throw new TypeError('send() needs an event with a string "type"');
      }
      this.#socket.send(JSON.stringify(event));
    } catch (error) {
      this.#emitError(toError(error), 'send');
      throw error;
    }
  }

  override on<K extends keyof EventTypeMap>(eventType: K, handler: EventHandler<EventTypeMap[K]>): this {
    return super.on(eventType, handler as Listener<EventTypeMap[K]>);
  }

  protected override onListenerError(error: unknown, event: keyof EventTypeMap): void {
    if (event === 'error') {
      console.error('WebSocketClient error handler threw', error);
      return;
    }
    this.#emitError(new Error(`handler for "${String(event)}" threw: ${toError(error).message}`, { cause: error }), 'handler');
  }

  readonly #onStateChange = (event: StateChangeEvent) => this.emit('state:change', event);

  readonly #onOpen = ({ url }: { url: string }) => this.emit('connected', { timestamp: new Date().toISOString(), url });

  readonly #onClose = ({ code, reason, willReconnect }: { code: number; reason: string; willReconnect: boolean }) => {
    this.emit('disconnected', { code, reason, willReconnect, timestamp: new Date().toISOString() });
  };

  readonly #onReconnecting = ({ attempt, delay }: { attempt: number; delay: number }) => {
    this.emit('reconnecting', { attempt, delay, timestamp: new Date().toISOString() });
  };

  // User handlers throw into this emitter, not the core's; a 'handler' error from the core is ours.
  readonly #onSocketError = ({ error, context }: { error: Error; context: ErrorContext }) => this.#emitError(error, context);

  readonly #onMessage = ({ data }: { data: string | Uint8Array }) => {
    const event = parseEvent(data);
    if (event instanceof Error) {
      this.#emitError(event, 'parse');
      return;
    }
    if (event.id !== undefined) this.#socket.rememberEventId(event.id);
    if (event.type === HEARTBEAT_ANSWER) this.#socket.heartbeatAnswered();
    this.emit('message', event);
    // A server event named like a client event must not pose as one.
    if (!CLIENT_EVENTS.has(event.type)) this.emit(event.type as keyof EventTypeMap, event as never);
  };

  #emitError(error: Error, context: ErrorContext): void {
    this.emit('error', { error, context, timestamp: new Date().toISOString() });
  }
}

/** One server message as an event envelope, or the reason it is not one. */
export function parseEvent(data: string | Uint8Array): BaseEvent | Error {
  const raw = parseJsonObjectMessage(data, 'events are JSON text');
  if (raw instanceof Error) return raw;
  if (typeof raw['type'] !== 'string' || raw['type'] === '') return new Error('server message has no string "type"');
  const payload = raw['payload'] ?? {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return new Error(`"${raw['type']}" event: payload is not an object`);
  for (const [field, type] of PAYLOAD_CHECKS[raw['type']] ?? []) {
    if (typeof (payload as Record<string, unknown>)[field] !== type) return new Error(`"${raw['type']}" event: payload.${field} is not a ${type}`);
  }
  const timestamp = typeof raw['timestamp'] === 'string' ? raw['timestamp']
    : typeof raw['timestamp'] === 'number' && Number.isFinite(new Date(raw['timestamp']).getTime()) ? new Date(raw['timestamp']).toISOString()
      : new Date().toISOString();
  const id = raw['id'];
  return {
    ...raw,
    type: raw['type'],
    payload: payload as Record<string, unknown>,
    timestamp,
    ...((typeof id === 'string' || typeof id === 'number') && { id }),
  };
}
