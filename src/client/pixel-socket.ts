import type { Clock } from '../util/clock.js';
import { decodeMessage, type DecodedImage } from './image-decoder.js';
import { createImageSaver, type ImageSaver } from './image-saver.js';
import { FixedDelay, NO_RECONNECT, type ReconnectPolicy } from '../util/reconnect-policy.js';
import { ReconnectingSocket, toError, type ConnectionState, type TokenProvider } from './reconnecting-socket.js';
import type { WebSocketConstructor } from './websocket-impl.js';

/** seeds/000's PixelSocket: collects images from any WebSocket server, saves them, reconnects. */

export interface ImageMetadata {
  /** When the image was received. */
  timestamp: Date;
  /** png, jpeg, webp or gif, read from the bytes; the server's word only when the bytes do not say. */
  format?: string;
  width?: number;
  height?: number;
  mimeType?: string;
  /** Original file name, when the server gave one. */
  filename?: string;
  /** Generation parameters (AI image servers). */
  params?: {
    positivePrompt?: string;
    negativePrompt?: string;
    seed?: string;
    width?: number;
    height?: number;
    workflowName?: string;
  };
  [key: string]: unknown;
}

export interface ConnectionStats {
  imagesReceived: number;
  /** Image bytes received (decoded, not wire bytes). */
  bytesReceived: number;
  connectedAt?: Date;
  isConnected: boolean;
  /** Reconnect attempts since the last successful connection. */
  reconnectAttempts: number;
}

export interface PixelSocketOptions {
  /**
   * A `ws://` or `wss://` URL, or several (a cluster's nodes): on a failure the next is tried at
   * once, round robin; the reconnect delay applies once every URL failed in a row.
   */
  url: string | readonly string[];
  /** Directory to save images in (Node, Bun, Deno; browsers never save). @default "./images" */
  saveDirectory?: string;
  /** @default true */
  autoReconnect?: boolean;
  /** @default 5000 */
  reconnectDelay?: number;
  /** @default 10 */
  maxReconnectAttempts?: number;
  onImage?: (data: Uint8Array, metadata?: ImageMetadata) => void;
  onConnect?: () => void;
  onDisconnect?: (code: number, reason: string) => void;
  onError?: (error: Error) => void;

  // framehub extensions (not in seeds/000)
  /** `false` never saves, even with `saveDirectory`. @default true where a file system exists */
  saveImages?: boolean;
  /** Called after an image was written. */
  onSaved?: (path: string, metadata: ImageMetadata) => void;
  /** Called when a reconnect is scheduled. */
  onReconnecting?: (attempt: number, delay: number) => void;
  /** Called when the reconnect attempts are used up and the client stays disconnected. */
  onReconnectFailed?: (attempts: number) => void;
  /** Images it returns false for are dropped: not delivered, saved or counted. */
  accept?: (metadata: ImageMetadata) => boolean;
  /** Replaces the fixed-delay policy built from `reconnectDelay` and `maxReconnectAttempts`. */
  reconnectPolicy?: ReconnectPolicy;
  getToken?: TokenProvider;
  tokenParam?: string;
  /**
   * Dead-peer detection period in ms: nothing received for two periods drops the connection and
   * reconnects. No heartbeat message is sent, so this is an explicit silence watchdog, for
   * servers that send all the time (a frame stream). @default 0 (off)
   */
  heartbeatInterval?: number;
  /** At most this many saves in flight; images beyond are delivered but not saved (reported). @default 64 */
  maxPendingSaves?: number;
  debug?: boolean | ((line: string) => void);
  WebSocket?: WebSocketConstructor;
  clock?: Clock;
}

const EXTENSIONS: Record<string, string> = { png: 'png', jpeg: 'jpg', jpg: 'jpg', webp: 'webp', gif: 'gif' };

export class PixelSocket {
  readonly #options: PixelSocketOptions;
  readonly #socket: ReconnectingSocket;
  readonly #saver: ImageSaver | undefined;
  #imagesReceived = 0;
  #bytesReceived = 0;
  #connectedAt: Date | undefined;
  #savesInFlight = 0;
  #imagesNotSaved = 0;

  constructor(options: PixelSocketOptions) {
    this.#options = options;
    const policy = options.autoReconnect === false ? NO_RECONNECT
      : options.reconnectPolicy ?? new FixedDelay({ delay: options.reconnectDelay ?? 5000, maxAttempts: options.maxReconnectAttempts ?? 10 });
    this.#socket = new ReconnectingSocket({
      url: options.url,
      policy,
      name: 'PixelSocket',
      ...(options.getToken && { getToken: options.getToken }),
      ...(options.tokenParam && { tokenParam: options.tokenParam }),
      ...(options.heartbeatInterval !== undefined && { heartbeatInterval: options.heartbeatInterval }),
      deadPeer: 'on-silence',
      ...(options.debug !== undefined && { debug: options.debug }),
      ...(options.WebSocket && { WebSocket: options.WebSocket }),
      ...(options.clock && { clock: options.clock }),
    });
    this.#saver = options.saveImages === false ? undefined : createImageSaver(options.saveDirectory ?? './images');
    this.#socket.on('open', this.#onOpen);
    this.#socket.on('message', this.#onMessage);
    this.#socket.on('close', this.#onClose);
    this.#socket.on('error', this.#onSocketError);
    this.#socket.on('reconnecting', this.#onReconnecting);
    this.#socket.on('reconnect:failed', this.#onReconnectFailed);
  }

  /** Resolves once connected; rejects when the server cannot be reached after the retries. */
  connect(): Promise<void> {
    return this.#socket.connect();
  }

  /** Disconnects and stops auto-reconnection. */
  disconnect(): void {
    this.#socket.disconnect();
  }

  send(data: string | ArrayBuffer | Uint8Array): void {
    this.#socket.send(data);
  }

  getStats(): ConnectionStats {
    return {
      imagesReceived: this.#imagesReceived,
      bytesReceived: this.#bytesReceived,
      ...(this.#connectedAt && { connectedAt: this.#connectedAt }),
      isConnected: this.isConnected(),
      reconnectAttempts: this.#socket.reconnectAttempts,
    };
  }

  isConnected(): boolean {
    return this.#socket.state === 'connected';
  }

  /** framehub extension: the connection state of the shared core. */
  get state(): ConnectionState {
    return this.#socket.state;
  }

  /** framehub extension: images delivered but not saved (save queue full or write failed). */
  get imagesNotSaved(): number {
    return this.#imagesNotSaved;
  }

  readonly #onOpen = () => {
    this.#connectedAt = new Date();
    this.#call('onConnect', () => this.#options.onConnect?.());
  };

  readonly #onClose = ({ code, reason }: { code: number; reason: string }) => {
    // Only a connection that was up can be lost; failed attempts surface through onError.
    if (this.#connectedAt === undefined) return;
    this.#connectedAt = undefined;
    this.#call('onDisconnect', () => this.#options.onDisconnect?.(code, reason));
  };

  // User callbacks never throw into the core (#call catches them), so a 'handler' error here is
  // a bug of ours: report it like any other.
  readonly #onSocketError = ({ error }: { error: Error }) => this.#reportError(error);

  readonly #onReconnecting = ({ attempt, delay }: { attempt: number; delay: number }) => {
    this.#call('onReconnecting', () => this.#options.onReconnecting?.(attempt, delay));
  };

  readonly #onReconnectFailed = ({ attempts }: { attempts: number }) => {
    this.#call('onReconnectFailed', () => this.#options.onReconnectFailed?.(attempts));
  };

  readonly #onMessage = ({ data }: { data: string | Uint8Array }) => {
    const result = decodeMessage(data);
    if (result.eventId !== undefined) this.#socket.rememberEventId(result.eventId);
    if (result.error) this.#reportError(result.error);
    for (const image of result.images) this.#deliver(image);
  };

  #deliver(image: DecodedImage): void {
    const metadata = toMetadata(image);
    const accept = this.#options.accept;
    if (accept) {
      let accepted = false;
      this.#call('accept', () => { accepted = accept(metadata); });
      if (!accepted) return;
    }
    this.#imagesReceived++;
    this.#bytesReceived += image.bytes.length;
    this.#call('onImage', () => this.#options.onImage?.(image.bytes, metadata));
    this.#save(image.bytes, metadata);
  }

  #save(bytes: Uint8Array, metadata: ImageMetadata): void {
    const saver = this.#saver;
    if (!saver) return;
    if (this.#savesInFlight >= (this.#options.maxPendingSaves ?? 64)) {
      // The disk is slower than the stream: deliver but do not queue without bound.
      this.#imagesNotSaved++;
      this.#reportError(new Error('image not saved: too many saves in flight (disk slower than the stream)'));
      return;
    }
    this.#savesInFlight++;
    const ext = EXTENSIONS[metadata.format ?? ''] ?? 'bin';
    saver.save(bytes, ext, metadata.timestamp).then(
      (path) => this.#call('onSaved', () => this.#options.onSaved?.(path, metadata)),
      (error) => {
        this.#imagesNotSaved++;
        this.#reportError(new Error(`image not saved: ${toError(error).message}`, { cause: error }));
      },
    ).finally(() => { this.#savesInFlight--; });
  }

  /** Runs a user callback; a throw goes to onError and never reaches the socket. */
  #call(name: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      const wrapped = new Error(`${name} callback threw: ${toError(error).message}`, { cause: error });
      if (name === 'onError') console.error(wrapped);
      else this.#reportError(wrapped);
    }
  }

  #reportError(error: Error): void {
    const onError = this.#options.onError;
    if (!onError) return;
    try {
      onError(error);
    } catch (thrown) {
      console.error('PixelSocket onError callback threw', thrown);
    }
  }
}

function toMetadata({ bytes, sniffed, server }: DecodedImage): ImageMetadata {
  const metadata: ImageMetadata = { timestamp: new Date() };
  for (const [key, value] of Object.entries(server)) {
    // The server's own timestamp says when it made the image, not when we received it.
    metadata[key === 'timestamp' ? 'serverTimestamp' : key] = value;
  }
  const serverMime = typeof server['mimeType'] === 'string' ? server['mimeType'] : undefined;
  const serverFormat = typeof server['format'] === 'string' ? server['format'].toLowerCase()
    : serverMime?.startsWith('image/') ? serverMime.slice(6) : undefined;
  metadata.format = sniffed?.format ?? (serverFormat === 'jpg' ? 'jpeg' : serverFormat);
  const mimeType = sniffed?.mimeType ?? serverMime;
  if (mimeType !== undefined) metadata.mimeType = mimeType;
  const params = typeof server['params'] === 'object' && server['params'] !== null ? server['params'] as Record<string, unknown> : {};
  const width = sniffed?.width ?? positive(server['width']) ?? positive(params['width']);
  const height = sniffed?.height ?? positive(server['height']) ?? positive(params['height']);
  if (width !== undefined) metadata.width = width;
  else delete metadata.width;
  if (height !== undefined) metadata.height = height;
  else delete metadata.height;
  metadata.size = bytes.length;
  return metadata;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}
