import { TypedEmitter } from '../util/typed-emitter.js';
import { CountRate } from '../util/count-rate.js';
import { ExponentialBackoff, type ReconnectPolicy } from '../util/reconnect-policy.js';
import { parseVideoUnit, type VideoTierChoice, type VideoUnitMessage } from '../wire/video-unit.js';
import { StopOnCloseCodes } from './close-code-policy.js';
import { ReconnectingSocket, type ConnectionState, type TokenProvider } from './reconnecting-socket.js';
import { routeUrls } from './server-urls.js';

/** What the player draws on: a page's canvas or an OffscreenCanvas. */
export type PlayerCanvas = HTMLCanvasElement | OffscreenCanvas;

export interface VideoPlayerOptions {
  /**
   * framehub's origin, `http(s)://host:port` (the player opens `ws(s)://…/video/<stream>`), or
   * several (a cluster's nodes): on a failure the next is tried at once, round robin.
   */
  url: string | readonly string[];
  stream: string;
  /** A tier to pin, or `auto`: the server moves the viewer with its delivered bandwidth. @default 'auto' */
  tier?: VideoTierChoice;
  canvas: PlayerCanvas;
  /** An access token (framehub's access model), sent as `?token=`. */
  token?: string;
  /** Asked before every attempt instead of `token` (a token that expires is fetched afresh). */
  getToken?: TokenProvider;
  /**
   * When to reconnect after the connection is lost. `NO_RECONNECT` (util/reconnect-policy)
   * for none. @default StopOnCloseCodes(ExponentialBackoff): backoff from 1 s up to 30 s; a
   * refused token, unknown stream or ended stream (4401, 4403, 4404, 4410, 4400) ends it.
   */
  reconnectPolicy?: ReconnectPolicy;
}

export interface VideoPlayerStats {
  /** Units received and their bytes on the wire. */
  units: number;
  bytes: number;
  /** Bits per second received over the last second. */
  bitrate: number;
  /** Pictures decoded, drawn, and decoded but replaced by a newer one before a draw. */
  decoded: number;
  drawn: number;
  skipped: number;
  /** Units not decoded: they came before the first keyframe or after a decoder error. */
  waitedForKeyframe: number;
  /** Submit → decoded of the latest picture, ms. */
  decodeMs: number;
  /** Capture → drawn of the latest picture, ms (wall clock). */
  latencyMs: number;
  width: number;
  height: number;
  codec: string;
}

/**
 * Units waiting in the decoder before the player skips to the next keyframe. Above the run a
 * joining viewer is sent at once (the server keeps at most 240 units since a keyframe), so it
 * never cuts that catch-up short; it only bounds a decoder that cannot keep up at all.
 */
const MAX_DECODE_QUEUE = 300;

export const VideoPlayerEvent = {
  Open: 'open',
  Frame: 'frame',
  Error: 'error',
  Close: 'close',
  Reconnecting: 'reconnecting',
} as const;

export interface VideoPlayerEvents {
  /** Connected (again): the first picture follows from the tier's latest keyframe. */
  open: undefined;
  /** A picture was drawn. */
  frame: { width: number; height: number; capturedAt: number; decodeMs: number };
  /** A decoder or server error; the player goes on at the next keyframe where it can. */
  error: { error: Error; context: 'decoder' | 'message' | 'server' | 'connection' };
  /** A connection ended; `willReconnect` says whether the policy tries again (the player keeps its last picture meanwhile). */
  close: { code: number; reason: string; willReconnect: boolean };
  /** The next attempt is `delay` ms from now. */
  reconnecting: { attempt: number; delay: number };
}

/**
 * Plays a stream's H.264 tier (`WS /video/:id`, one binary message per access unit) with
 * WebCodecs: each unit goes to a `VideoDecoder`, and the newest decoded picture is drawn on the
 * canvas at the next animation frame; a picture replaced before it was drawn is closed at once
 * (a decoder has only a few frames to hand out). Browsers only; `VideoPlayer.supported` says
 * whether this one can (a secure context with WebCodecs), else use the JPEG routes.
 */
export class VideoPlayer extends TypedEmitter<VideoPlayerEvents> {
  static get supported(): boolean {
    return typeof (globalThis as { VideoDecoder?: unknown }).VideoDecoder === 'function';
  }

  readonly options: { readonly url: string | readonly string[]; readonly stream: string; tier: VideoTierChoice };
  readonly #canvas: PlayerCanvas;
  readonly #socket: ReconnectingSocket;
  /** The tier every connection URL asks for; a different `options.tier` is sent once connected. */
  readonly #urlTier: VideoTierChoice;
  #decoder: VideoDecoder | undefined;
  /** The codec and avcC the decoder is configured with, to reconfigure only on a change. */
  #configured = '';
  #needKeyframe = true;
  /** Submit time of each unit in the decoder, by its timestamp. */
  readonly #submitted = new Map<number, { at: number; capturedAt: number }>();
  #pending: { frame: VideoFrame; capturedAt: number; decodeMs: number } | undefined;
  #drawScheduled = false;
  /** Bytes received, sampled per message, for the bitrate over the last second. */
  readonly #byteRate = new CountRate(1000);
  #closed = false;
  readonly #stats: VideoPlayerStats = {
    units: 0, bytes: 0, bitrate: 0, decoded: 0, drawn: 0, skipped: 0, waitedForKeyframe: 0,
    decodeMs: Number.NaN, latencyMs: Number.NaN, width: 0, height: 0, codec: '',
  };

  constructor(options: VideoPlayerOptions) {
    super();
    this.options = { url: options.url, stream: options.stream, tier: options.tier ?? 'auto' };
    this.#urlTier = this.options.tier;
    this.#canvas = options.canvas;
    const token = options.token;
    const getToken = options.getToken ?? (token ? () => token : undefined);
    // One reconnect core for every client (issue 14): backoff, failover between nodes, tokens
    // fetched per attempt, and the close codes after which retrying cannot help.
    this.#socket = new ReconnectingSocket({
      url: routeUrls(options.url, `/video/${encodeURIComponent(options.stream)}?tier=${encodeURIComponent(this.#urlTier)}`),
      name: 'VideoPlayer',
      policy: options.reconnectPolicy ?? new StopOnCloseCodes(new ExponentialBackoff()),
      // Units carry no event ids: a new connection starts at the tier's latest keyframe.
      resumeParam: '',
      ...(getToken && { getToken }),
    });
    this.#socket.on('open', () => {
      // Whatever the decoder held belongs to the last connection; this one starts at a keyframe.
      this.#needKeyframe = true;
      this.#submitted.clear();
      if (this.options.tier !== this.#urlTier) this.#socket.send(JSON.stringify({ type: 'set_tier', tier: this.options.tier }));
      this.emit(VideoPlayerEvent.Open, undefined);
    });
    this.#socket.on('message', ({ data }) => this.#onMessage(data));
    this.#socket.on('error', ({ error, context }) => {
      if (context === 'connection') this.emit(VideoPlayerEvent.Error, { error, context: 'connection' });
    });
    this.#socket.on('reconnecting', (event) => this.emit(VideoPlayerEvent.Reconnecting, event));
    this.#socket.on('close', ({ code, reason, willReconnect }) => {
      if (!willReconnect) this.#teardown();
      this.emit(VideoPlayerEvent.Close, { code, reason, willReconnect });
    });
  }

  get stats(): VideoPlayerStats {
    return { ...this.#stats, bitrate: this.#byteRate.rate(this.#stats.bytes) * 8 };
  }

  /** The connection's state (`disconnected` also while a reconnect is scheduled: `reconnecting` events say when). */
  get state(): ConnectionState {
    return this.#socket.state;
  }

  /** Opens the connection; events say how it goes (failures too: the returned promise is not needed). */
  connect(): void {
    if (!VideoPlayer.supported) throw new Error('this browser has no WebCodecs VideoDecoder (it needs a secure context: https or localhost)');
    this.#socket.connect().catch(() => {
      // Reported through 'close' and 'error'; the promise only repeats it.
    });
  }

  /** Pins another tier (or `auto`); the server starts it at that tier's last keyframe. */
  setTier(tier: VideoTierChoice): void {
    this.options.tier = tier;
    if (this.#socket.state === 'connected') this.#socket.send(JSON.stringify({ type: 'set_tier', tier }));
  }

  /** Closes the connection for good and releases the decoder. */
  close(): void {
    this.#socket.disconnect(1000, 'player closed');
    this.#teardown();
  }

  #onMessage(data: Uint8Array | string): void {
    if (typeof data === 'string') {
      let message: { type?: string; error?: { code?: string; message?: string } };
      try {
        message = JSON.parse(data) as typeof message;
      } catch {
        return;
      }
      if (message.type === 'error') {
        this.emit(VideoPlayerEvent.Error, { error: new Error(`${message.error?.code}: ${message.error?.message}`), context: 'server' });
      }
      return;
    }
    let unit: VideoUnitMessage;
    try {
      unit = parseVideoUnit(data);
    } catch (error) {
      this.emit(VideoPlayerEvent.Error, { error: error as Error, context: 'message' });
      return;
    }
    this.#byteRate.sample(this.#stats.bytes);
    this.#stats.units++;
    this.#stats.bytes += data.byteLength;
    this.#decode(unit);
  }

  #decode(unit: VideoUnitMessage): void {
    if (this.#closed) return;
    if (unit.keyframe && unit.config) {
      const key = `${unit.codec}:${Array.from(unit.config).join(',')}:${unit.width}x${unit.height}`;
      if (key !== this.#configured || this.#decoder?.state !== 'configured') {
        this.#configure(unit, key);
      }
      this.#needKeyframe = false;
    }
    const decoder = this.#decoder;
    // A decoder that falls far behind skips to the next keyframe, as the server does for a
    // socket that falls behind: latest picture wins, no growing queue.
    if (decoder && !unit.keyframe && decoder.decodeQueueSize > MAX_DECODE_QUEUE) this.#needKeyframe = true;
    if (this.#needKeyframe || !decoder || decoder.state !== 'configured') {
      this.#stats.waitedForKeyframe++;
      return;
    }
    // Microseconds, unique per unit: the decoder hands it back on the picture.
    const timestamp = Math.round(unit.capturedAt * 1000);
    this.#submitted.set(timestamp, { at: performance.now(), capturedAt: unit.capturedAt });
    try {
      decoder.decode(new EncodedVideoChunk({ type: unit.keyframe ? 'key' : 'delta', timestamp, data: unit.data }));
    } catch (error) {
      this.#decoderFailed(error as Error);
    }
  }

  #configure(unit: VideoUnitMessage, key: string): void {
    if (!this.#decoder || this.#decoder.state === 'closed') {
      this.#decoder = new VideoDecoder({
        output: (frame) => this.#onDecoded(frame),
        error: (error) => this.#decoderFailed(error),
      });
    }
    this.#decoder.configure({
      codec: unit.codec,
      description: unit.config!,
      codedWidth: unit.width,
      codedHeight: unit.height,
      optimizeForLatency: true,
    });
    this.#configured = key;
    this.#stats.codec = unit.codec;
  }

  #decoderFailed(error: Error): void {
    this.#needKeyframe = true;
    this.#configured = '';
    this.#submitted.clear();
    this.emit(VideoPlayerEvent.Error, { error, context: 'decoder' });
  }

  #onDecoded(frame: VideoFrame): void {
    this.#stats.decoded++;
    if (this.#closed) {
      frame.close();
      return;
    }
    const submitted = this.#submitted.get(frame.timestamp);
    this.#submitted.delete(frame.timestamp);
    const decodeMs = submitted ? performance.now() - submitted.at : Number.NaN;
    if (this.#pending) {
      // A newer picture before the last was drawn: the old one is closed, never drawn.
      this.#pending.frame.close();
      this.#stats.skipped++;
    }
    this.#pending = { frame, capturedAt: submitted?.capturedAt ?? Number.NaN, decodeMs };
    if (this.#drawScheduled) return;
    this.#drawScheduled = true;
    const raf = (globalThis as { requestAnimationFrame?: (callback: () => void) => number }).requestAnimationFrame;
    // A hidden tab runs no animation frames: draw at once there rather than hold the frame.
    if (raf && (globalThis as { document?: Document }).document?.visibilityState !== 'hidden') raf(() => this.#draw());
    else queueMicrotask(() => this.#draw());
  }

  #draw(): void {
    this.#drawScheduled = false;
    const pending = this.#pending;
    this.#pending = undefined;
    if (!pending) return;
    const { frame, capturedAt, decodeMs } = pending;
    try {
      const width = frame.displayWidth;
      const height = frame.displayHeight;
      const canvas = this.#canvas;
      if (canvas.width !== width) canvas.width = width;
      if (canvas.height !== height) canvas.height = height;
      const context = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
      context?.drawImage(frame, 0, 0, width, height);
      this.#stats.drawn++;
      this.#stats.width = width;
      this.#stats.height = height;
      this.#stats.decodeMs = decodeMs;
      this.#stats.latencyMs = Date.now() - capturedAt;
      this.emit(VideoPlayerEvent.Frame, { width, height, capturedAt, decodeMs });
    } finally {
      frame.close();
    }
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.frame.close();
    this.#pending = undefined;
    this.#submitted.clear();
    if (this.#decoder && this.#decoder.state !== 'closed') this.#decoder.close();
    this.#decoder = undefined;
  }
}
