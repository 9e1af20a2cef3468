import sharp from 'sharp';
import type { Frame } from '../sources/frame.js';
import type { Stream, Subscription } from './stream.js';
import type { DeliveryDone } from './subscriber-slot.js';
import type { AccessUnit } from './access-unit.js';
import { H264Encoder } from './h264-encoder.js';
import { CaptureTierEncoder } from './capture-tier-encoder.js';
import { tierSize, type VideoTierSpec } from './video-tier-spec.js';
import { VideoSlot, type VideoSink, type VideoSlotCounters } from './video-slot.js';

export interface VideoTierOptions {
  /** The encoder stops this long after the last viewer of the tier left. @default 5000 */
  readonly idleGraceMs?: number;
  /** Most frames a second fed to the encoder (the stream's subscriber slot skips the rest). @default 30 */
  readonly maxFps?: number;
  /** @default 'ffmpeg' */
  readonly command?: string;
  /** The encoder failed (it restarts with the next frame). */
  readonly onError?: (error: Error) => void;
  /** The tier went idle and stopped: its owner may forget it. */
  readonly onIdle?: () => void;
}

/** Most units and bytes kept since the last keyframe for joining viewers. */
const MAX_GOP_UNITS = 240;
const MAX_GOP_BYTES = 8 * 1024 * 1024;

export interface VideoSubscription {
  readonly slot: VideoSlot;
  close(): void;
}

/**
 * One (stream, tier): a subscriber of the stream like any viewer (so a slow encoder skips
 * frames, latest frame wins), one H.264 encoder process, the units since the last keyframe, and
 * the viewers' slots. Each picture is encoded once for all viewers of the tier, only while
 * someone watches.
 */
export class VideoTier {
  #slots: readonly VideoSlot[] = [];
  #subscription: Subscription | undefined;
  #encoder: H264Encoder | undefined;
  /** The tier as an output of the source's own capture process, when the source offers that. */
  #captured: CaptureTierEncoder | undefined;
  /** Units since the last keyframe, or empty when that run grew past its bounds. */
  #gop: AccessUnit[] = [];
  #gopBytes = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Frames fed to the encoder, encodes that failed, units out. */
  framesIn = 0;
  failures = 0;
  unitsOut = 0;
  #lastFailureAt = -Infinity;

  constructor(
    readonly stream: Stream,
    readonly spec: VideoTierSpec,
    readonly options: VideoTierOptions = {},
  ) {}

  get viewers(): number {
    return this.#slots.length;
  }

  /** An encoder process is up (while watched, and for the idle grace after). */
  get running(): boolean {
    return this.#encoder !== undefined || this.#captured !== undefined;
  }

  /** The viewers' counters summed (viewers that left not included). */
  viewerCounters(): VideoSlotCounters {
    const sum: VideoSlotCounters = { sent: 0, dropped: 0, bytes: 0, failed: 0, resyncs: 0 };
    for (const slot of this.#slots) {
      const counters = slot.counters;
      for (const key of ['sent', 'dropped', 'bytes', 'failed', 'resyncs'] as const) sum[key] += counters[key];
    }
    return sum;
  }

  /** The units a viewer joining now starts with. */
  get gop(): readonly AccessUnit[] {
    return this.#gop;
  }

  subscribe(sink: VideoSink, onError?: (error: unknown) => void): VideoSubscription {
    const slot = new VideoSlot(sink, onError);
    this.#slots = [...this.#slots, slot];
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    // The encoder reads pixels at the tier's size: the source's own where it has them (demand.ts).
    // A tier an ffmpeg source encodes in its capture process reads nothing from the frames.
    const need = this.stream.source.addOutput ? null : { kind: 'pixels', maxHeight: this.spec.maxHeight } as const;
    this.#subscription ??= this.stream.subscribe({ fps: this.options.maxFps ?? 30, deliver: this.#feed, need });
    this.#captured ??= this.#captureEncoder();
    slot.join(this.#gop);
    let closed = false;
    return {
      slot,
      close: () => {
        if (closed) return;
        closed = true;
        slot.close();
        this.#slots = this.#slots.filter((s) => s !== slot);
        if (this.#slots.length === 0) {
          // The stream counts its subscribers honestly and keeps its source for its own idle
          // grace; the encoder waits out this tier's grace, so a viewer back within it
          // continues the same encoded run (its GOP still starts a decoder).
          this.#subscription?.close();
          this.#subscription = undefined;
          this.#scheduleIdle();
        }
      },
    };
  }

  /** Stops the encoder and leaves the stream now. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    for (const slot of this.#slots) slot.close();
    this.#slots = [];
    await this.#stop();
  }

  #scheduleIdle(): void {
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#slots.length > 0) return;
      void this.#stop().then(() => this.options.onIdle?.());
    }, this.options.idleGraceMs ?? 5000);
    this.#idleTimer.unref();
  }

  async #stop(): Promise<void> {
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#resetGop();
    const encoder = this.#encoder;
    this.#encoder = undefined;
    const captured = this.#captured;
    this.#captured = undefined;
    await Promise.all([encoder?.stop(), captured?.stop()]);
  }

  /** The source encodes the tier in its capture process if it can; the subscription then only keeps it running. */
  #captureEncoder(): CaptureTierEncoder | undefined {
    const addOutput = this.stream.source.addOutput?.bind(this.stream.source);
    if (!addOutput) return undefined;
    const captured = new CaptureTierEncoder(addOutput, this.spec, this.options.maxFps ?? 30, () => this.stream.latest?.seq ?? 0);
    captured.on('unit', (unit) => {
      if (this.#captured === captured) this.#onUnit(unit);
    });
    return captured;
  }

  /** The tier's stream subscription: one frame at a time into the encoder. */
  readonly #feed = (frame: Frame, done: DeliveryDone): void => {
    if (this.#captured) return done(undefined, 0);
    const size = tierSize(frame.width, frame.height, this.spec);
    const encoder = this.#encoderFor(size.width, size.height);
    if (!encoder) return done(undefined, 0);
    pictureOf(frame, size.width, size.height).then((rgb) => {
      this.framesIn++;
      encoder.encode(rgb, frame.capturedAt, frame.seq, (error) => done(error, rgb.length));
    }, (error: unknown) => done(error as Error, 0));
  };

  /** The running encoder if it fits `width`×`height`, else a new one (a resized source restarts it). */
  #encoderFor(width: number, height: number): H264Encoder | undefined {
    const current = this.#encoder;
    if (current && current.options.width === width && current.options.height === height) return current;
    if (current) {
      void current.stop();
      this.#encoder = undefined;
      this.#resetGop();
    }
    // A failing encoder is tried again at most once a second, not once a frame.
    if (performance.now() - this.#lastFailureAt < 1000) return undefined;
    const fps = this.options.maxFps ?? 30;
    const encoder = new H264Encoder({ width, height, fps, bitrate: this.spec.bitrate, ...(this.options.command && { command: this.options.command }) });
    encoder.on('unit', (unit) => {
      // An encoder being replaced (the source changed size) may still flush a unit or two.
      if (this.#encoder === encoder) this.#onUnit(unit);
    });
    encoder.on('exit', ({ error }) => {
      if (this.#encoder === encoder) {
        this.#encoder = undefined;
        this.#resetGop();
      }
      if (error) {
        this.failures++;
        this.#lastFailureAt = performance.now();
        this.options.onError?.(error);
      }
    });
    this.#encoder = encoder;
    return encoder;
  }

  #onUnit(unit: AccessUnit): void {
    this.unitsOut++;
    if (unit.keyframe) this.#resetGop();
    if (unit.keyframe || this.#gop.length > 0) {
      this.#gop.push(unit);
      this.#gopBytes += unit.data.length;
      if (this.#gop.length > MAX_GOP_UNITS || this.#gopBytes > MAX_GOP_BYTES) this.#resetGop();
    }
    for (const slot of this.#slots) slot.offer(unit);
  }

  #resetGop(): void {
    this.#gop = [];
    this.#gopBytes = 0;
  }
}

/** The frame as raw RGB at the tier's size: its raw pixels when it has them, else its bytes decoded. */
async function pictureOf(frame: Frame, width: number, height: number): Promise<Buffer> {
  const raw = frame.raw;
  if (raw && raw.channels === 3 && raw.width === width && raw.height === height) return raw.data;
  const input = raw ? sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } }) : sharp(frame.bytes);
  return input.resize(width, height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
}
