import { TypedEmitter } from '../util/typed-emitter.js';
import { CountRate } from '../util/count-rate.js';
import { parseVideoUnit, type VideoTierChoice, type VideoUnitMessage } from '../wire/video-unit.js';

/** What the player draws on: a page's canvas or an OffscreenCanvas. */
export type PlayerCanvas = HTMLCanvasElement | OffscreenCanvas;

export interface VideoPlayerOptions {
  /** framehub's origin, `http(s)://host:port` (the player opens `ws(s)://…/video/<stream>`). */
  url: string;
  stream: string;
  /** A tier to pin, or `auto`: the server moves the viewer with its delivered bandwidth. @default 'auto' */
  tier?: VideoTierChoice;
  canvas: PlayerCanvas;
  /** An access token (framehub's access model), sent as `?token=`. */
  token?: string;
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
} as const;

export interface VideoPlayerEvents {
  open: undefined;
  /** A picture was drawn. */
  frame: { width: number; height: number; capturedAt: number; decodeMs: number };
  /** A decoder or server error; the player goes on at the next keyframe where it can. */
  error: { error: Error; context: 'decoder' | 'message' | 'server' | 'connection' };
  close: { code: number; reason: string };
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

  readonly options: Required<Omit<VideoPlayerOptions, 'canvas' | 'token'>>;
  readonly #token: string | undefined;
  readonly #canvas: PlayerCanvas;
  #ws: WebSocket | undefined;
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
    this.#canvas = options.canvas;
    this.#token = options.token;
  }

  get stats(): VideoPlayerStats {
    return { ...this.#stats, bitrate: this.#byteRate.rate(this.#stats.bytes) * 8 };
  }

  /** Opens the connection; events say how it goes. */
  connect(): void {
    if (!VideoPlayer.supported) throw new Error('this browser has no WebCodecs VideoDecoder (it needs a secure context: https or localhost)');
    const base = this.options.url.replace(/^http/, 'ws').replace(/\/$/, '');
    const token = this.#token ? `&token=${encodeURIComponent(this.#token)}` : '';
    const ws = new WebSocket(`${base}/video/${encodeURIComponent(this.options.stream)}?tier=${this.options.tier}${token}`);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.addEventListener('open', () => this.emit(VideoPlayerEvent.Open, undefined));
    ws.addEventListener('message', (event) => this.#onMessage(event.data as ArrayBuffer | string));
    ws.addEventListener('error', () => this.emit(VideoPlayerEvent.Error, { error: new Error('connection error'), context: 'connection' }));
    ws.addEventListener('close', (event) => {
      this.#teardown();
      this.emit(VideoPlayerEvent.Close, { code: event.code, reason: event.reason });
    });
  }

  /** Pins another tier (or `auto`); the server starts it at that tier's last keyframe. */
  setTier(tier: VideoTierChoice): void {
    this.options.tier = tier;
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'set_tier', tier }));
  }

  close(): void {
    this.#ws?.close(1000);
    this.#teardown();
  }

  #onMessage(data: ArrayBuffer | string): void {
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
      unit = parseVideoUnit(new Uint8Array(data));
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
