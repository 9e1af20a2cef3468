import type { Frame } from '../sources/frame.js';
import { SubscriberSlot, type Deliver, type FrameSink, type SlotCounters } from './subscriber-slot.js';
import { VariantCache } from './variant.js';
import { frameRequest, ReaderDemand, type ReaderNeed } from './reader-demand.js';
import type { Encoder } from './encoder.js';
import type { Source, SourceExit, SourceFrame, SourceStatus } from '../sources/source.js';
import { RateMeter } from '../util/rate-meter.js';
import { CountRate } from '../util/count-rate.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { restartAtOnceThenBackOff, type ReconnectPolicy } from '../util/reconnect-policy.js';

/** Something subscribers should be told about the source: progress, or a failure. */
export interface StreamNotice {
  level: 'status' | 'error';
  message: string;
  /** `true` when the stream has ended for good (e.g. the captured window closed). */
  fatal: boolean;
  /** Facts for clients beside the words (see SourceStatus), sent with a status. */
  detail?: Readonly<Record<string, unknown>>;
}

export type SourceState = 'stopped' | 'starting' | 'running' | 'stopping' | 'restarting' | 'ended';

export interface StreamEvents {
  frame: Frame;
  notice: StreamNotice;
  'state:change': { oldState: SourceState; newState: SourceState };
}

export interface StreamOptions {
  /** Source is stopped this long after the last subscriber left. @default 5000 */
  idleGraceMs?: number;
  /**
   * Restart after the source dies. A source that had delivered frames since it started is
   * restarted at once, but never sooner than `restartDelayMs` after its previous start (a source
   * that dies right after each start restarts at most twice a second). Each further death
   * without a frame in between waits `restartDelayMs` × 2^n, up to the cap. @default 500, 10000
   */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /**
   * Replaces the restart backoff above: asked after each death with the number of deaths since
   * the last frame (1: the source was delivering); `null` ends the stream for good. The same
   * interface as the client library's reconnect policies. The spacing of `restartDelayMs`
   * between starts still holds. @default immediately, then restartDelayMs × 2^n up to the cap
   */
  restartPolicy?: ReconnectPolicy;
  clock?: Clock;
  /** Overlay label; defaults to the stream id. */
  label?: string;
  /** Who the stream belongs to (a browser session's creator, access.ts `reaches`); unset: anyone with the scope. */
  owner?: string;
}

export interface SubscribeOptions {
  fps: number;
  /** The client's transport: an object (what the WebSocket routes pass) or a function. */
  deliver: FrameSink | Deliver;
  onNotice?: (notice: StreamNotice) => void;
  onDeliverError?: (error: unknown) => void;
  /**
   * What this subscriber needs of each frame, held while it is subscribed (`Stream.demand`).
   * `null`: nothing of its own, its reader holds its need elsewhere (a VariantSink's claimed
   * variant). @default { kind: 'frames' }: the frames as they come, full size and quality
   */
  need?: ReaderNeed | null;
}

export interface Subscription {
  readonly slot: SubscriberSlot;
  setFps(fps: number): void;
  close(): void;
}

export interface StreamStats {
  id: string;
  kind: string;
  state: SourceState;
  subscribers: number;
  framesIn: number;
  fpsIn: number;
  fpsOut: number;
  framesOut: number;
  bytesOut: number;
  framesDropped: number;
  framesSkipped: number;
  encodes: number;
  latest?: { seq: number; format: string; width: number; height: number; capturedAt: number; size: number };
}

/**
 * One source, many subscribers, the latest frame and the counters. The stream does no
 * per-client work on a frame: it hands the same `Frame` to every subscriber's slot.
 */
export class Stream extends TypedEmitter<StreamEvents> {
  readonly variants: VariantCache;
  /** What the readers need now; the source reads it (src/sources/demand.ts). */
  readonly demand = new ReaderDemand();
  readonly label: string;
  /** See StreamOptions.owner. */
  readonly owner: string | undefined;
  #latest: Frame | undefined;
  #seq = 0;
  #state: SourceState = 'stopped';
  /**
   * The subscribers' slots, a new array on every subscribe and leave, so a frame's fan-out
   * walks a plain array that nothing changes under it.
   */
  #slots: readonly SubscriberSlot[] = [];
  readonly #noticeHandlers = new Map<SubscriberSlot, (notice: StreamNotice) => void>();
  readonly #inMeter: RateMeter;
  /**
   * Deliveries completed since the stream was made (framesOut: the slots' `sent`, departed
   * subscribers' included), and their rate, sampled once per frame.
   */
  #delivered = 0;
  readonly #outRate: CountRate;
  readonly #clock: Clock;
  readonly #idleGraceMs: number;
  readonly #restartDelayMs: number;
  readonly #restartPolicy: ReconnectPolicy;
  #idleTimer: TimerHandle | undefined;
  #restartTimer: TimerHandle | undefined;
  /** Deaths since the last frame: 0 means the source was delivering when it died. */
  #restartAttempt = 0;
  /** Clock time of the last start, for the minimum spacing between starts. */
  #startedAt = -Infinity;
  // Totals of subscribers that have left, so stream counters never go backwards.
  readonly #departed: SlotCounters = { sent: 0, dropped: 0, skipped: 0, bytes: 0, failed: 0 };

  constructor(
    readonly id: string,
    readonly source: Source,
    encoder: Encoder,
    options: StreamOptions = {},
  ) {
    super();
    this.label = options.label ?? id;
    this.owner = options.owner;
    this.#clock = options.clock ?? systemClock;
    this.#idleGraceMs = options.idleGraceMs ?? 5000;
    this.#restartDelayMs = options.restartDelayMs ?? 500;
    this.#restartPolicy = options.restartPolicy ?? restartAtOnceThenBackOff(this.#restartDelayMs, options.maxRestartDelayMs ?? 10_000);
    this.#inMeter = new RateMeter(1000, 256, this.#clock);
    this.#outRate = new CountRate(1000, 256, this.#clock);
    this.variants = new VariantCache(encoder, (frame) => this.osdText(frame), this.demand);
    source.useDemand(this.demand);
    source.on('frame', this.#sourceOnFrame);
    source.on('status', this.#sourceOnStatus);
    source.on('exit', this.#sourceOnExit);
  }

  get latest(): Frame | undefined {
    return this.#latest;
  }

  get state(): SourceState {
    return this.#state;
  }

  get subscriberCount(): number {
    return this.#slots.length;
  }

  /** Measured frames per second coming from the source. */
  get fpsIn(): number {
    return this.#inMeter.rate();
  }

  /** Per completed delivery: one increment, no clock read (see CountRate). */
  readonly #recordSent = (): void => {
    this.#delivered++;
  };

  /** Adds a subscriber; it receives the latest frame at once (a static page still shows something). */
  subscribe(options: SubscribeOptions): Subscription {
    const slot = new SubscriberSlot(options.deliver, options.fps, this.#clock, options.onDeliverError, this.#recordSent);
    const need = options.need === undefined ? FRAMES : options.need;
    const unneed = need ? this.demand.hold(need) : undefined;
    this.#slots = [...this.#slots, slot];
    if (options.onNotice) this.#noticeHandlers.set(slot, options.onNotice);
    this.#cancelIdle();
    if (this.#state === 'stopped') void this.#start();
    if (this.#state === 'ended') {
      options.onNotice?.({ level: 'error', message: `stream ${this.id} has ended`, fatal: true });
    } else if (this.#latest) {
      slot.offer(this.#latest);
    }
    let closed = false;
    return {
      slot,
      setFps: (fps) => slot.setFps(fps),
      close: () => {
        if (closed) return;
        closed = true;
        slot.close();
        unneed?.();
        this.#slots = this.#slots.filter((s) => s !== slot);
        this.#noticeHandlers.delete(slot);
        const counters = slot.counters;
        for (const key of ['sent', 'dropped', 'skipped', 'bytes', 'failed'] as const) this.#departed[key] += counters[key];
        if (this.#slots.length === 0) this.#scheduleIdle();
      },
    };
  }

  /** Resolves with the next frame the source produces (or the latest one if `acceptLatest`). */
  nextFrame(timeoutMs: number, acceptLatest = true): Promise<Frame> {
    if (acceptLatest && this.#latest) return Promise.resolve(this.#latest);
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.off('frame', onFrame);
        reject(new Error(`no frame from stream ${this.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onFrame = (frame: Frame) => {
        this.#clock.clearTimeout(timer);
        resolve(frame);
      };
      this.once('frame', onFrame);
    });
  }

  /**
   * A frame that gives `need` what it asks (Source.serves): the latest if it does, else the next
   * one that does, with `need` held meanwhile so the source makes it (the demo copies its
   * pixels, a screencast sent smaller goes back to full size). After `timeoutMs` without one,
   * the latest frame as it is; without any, an error. A screenshot asks this way.
   */
  frameFor(need: ReaderNeed, timeoutMs: number): Promise<Frame> {
    const serves = (frame: Frame) => this.source.serves(frame, frameRequest(need, frame));
    const latest = this.#latest;
    if (latest && serves(latest)) return Promise.resolve(latest);
    const unneed = this.demand.hold(need);
    return new Promise<Frame>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.off('frame', onFrame);
        if (this.#latest) resolve(this.#latest);
        else reject(new Error(`no frame from stream ${this.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onFrame = (frame: Frame) => {
        if (!serves(frame)) return;
        this.#clock.clearTimeout(timer);
        this.off('frame', onFrame);
        resolve(frame);
      };
      this.on('frame', onFrame);
    }).finally(unneed);
  }

  /** Text of the on-screen display: stream name, wall-clock time of capture, measured fps. */
  osdText(frame: Frame): string {
    const time = new Date(frame.capturedAt).toISOString().slice(11, 23);
    return `${this.label}  ${time}  ${this.fpsIn.toFixed(1)} FPS`;
  }

  stats(): StreamStats {
    const totals = { ...this.#departed };
    for (const slot of this.#slots) {
      const counters = slot.counters;
      for (const key of ['sent', 'dropped', 'skipped', 'bytes', 'failed'] as const) totals[key] += counters[key];
    }
    const latest = this.#latest;
    return {
      id: this.id,
      kind: this.source.kind,
      state: this.#state,
      subscribers: this.#slots.length,
      framesIn: this.#seq,
      fpsIn: this.#inMeter.rate(),
      fpsOut: this.#outRate.rate(this.#delivered),
      framesOut: this.#delivered,
      bytesOut: totals.bytes,
      framesDropped: totals.dropped,
      framesSkipped: totals.skipped,
      encodes: this.variants.encodes,
      ...(latest && {
        latest: { seq: latest.seq, format: latest.format, width: latest.width, height: latest.height, capturedAt: latest.capturedAt, size: latest.bytes.length },
      }),
    };
  }

  /** Stops the source now and forgets subscribers; for server shutdown. Safe to call twice. */
  async close(): Promise<void> {
    this.#cancelIdle();
    if (this.#restartTimer !== undefined) this.#clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    for (const slot of this.#slots) slot.close();
    this.#slots = [];
    this.#noticeHandlers.clear();
    await this.#stop();
  }

  #setState(newState: SourceState): void {
    const oldState = this.#state;
    if (oldState === newState) return;
    this.#state = newState;
    this.emit('state:change', { oldState, newState });
  }

  async #start(): Promise<void> {
    this.#setState('starting');
    this.#startedAt = this.#clock.now();
    try {
      await this.source.start();
      // A subscriber may have left, or close() run, while the source was starting.
      if (this.#state !== 'starting') return;
      this.#setState('running');
      if (this.#slots.length === 0) this.#scheduleIdle();
    } catch (error) {
      if (this.#state !== 'starting') return;
      this.#sourceOnExit({ error: error as Error, restartable: true });
    }
  }

  async #stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'ended') return;
    this.#setState('stopping');
    try {
      await this.source.stop();
    } catch (error) {
      // A source that fails to stop is treated as stopped; its next start() gets a clean slate.
      this.emit('notice', { level: 'error', message: `stopping failed: ${(error as Error).message}`, fatal: false });
    } finally {
      this.#latest = undefined;
      this.variants.clear();
      if (this.#state === 'stopping') this.#setState('stopped');
      // Someone subscribed while the source was stopping: start it again.
      if (this.state === 'stopped' && this.#slots.length > 0) void this.#start();
    }
  }

  #scheduleIdle(): void {
    this.#cancelIdle();
    this.#idleTimer = this.#clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#slots.length === 0) {
        if (this.#restartTimer !== undefined) this.#clock.clearTimeout(this.#restartTimer);
        this.#restartTimer = undefined;
        void this.#stop();
      }
    }, this.#idleGraceMs);
    (this.#idleTimer as { unref?: () => void }).unref?.();
  }

  #cancelIdle(): void {
    if (this.#idleTimer !== undefined) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #notify(notice: StreamNotice): void {
    this.emit('notice', notice);
    for (const onNotice of [...this.#noticeHandlers.values()]) {
      try {
        onNotice(notice);
      } catch {
        // A subscriber's notice handler failing must not keep the others from hearing it.
      }
    }
  }

  readonly #sourceOnFrame = (sourceFrame: SourceFrame): void => {
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    const frame: Frame = { ...sourceFrame, seq: ++this.#seq };
    // Raw pixels only speed up encoding the current frame; dropping them from the previous one
    // keeps a stalled client's in-flight frame at the size of its encoded bytes.
    if (this.#latest?.raw) (this.#latest as { raw?: Frame['raw'] }).raw = undefined;
    this.#latest = frame;
    this.#restartAttempt = 0;
    // One clock read for the whole fan-out, not one per subscriber.
    const now = this.#clock.now();
    this.#inMeter.record(now);
    this.#outRate.sample(this.#delivered, now);
    this.emit('frame', frame);
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) slots[i]!.offer(frame, now);
  };

  readonly #sourceOnStatus = (status: string | SourceStatus): void => {
    if (typeof status === 'string') this.#notify({ level: 'status', message: status, fatal: false });
    else this.#notify({ level: 'status', message: status.message, fatal: false, detail: status.detail });
  };

  readonly #sourceOnExit = ({ error, restartable }: SourceExit): void => {
    if (this.#state === 'stopping' || this.#state === 'stopped' || this.#state === 'ended') return;
    if (!restartable) {
      this.#setState('ended');
      this.#latest = undefined;
      this.variants.clear();
      this.#notify({ level: 'error', message: error.message, fatal: true });
      return;
    }
    const attempt = ++this.#restartAttempt;
    const backoff = this.#restartPolicy.nextDelay(attempt);
    if (backoff === null) {
      this.#setState('ended');
      this.#latest = undefined;
      this.variants.clear();
      this.#notify({ level: 'error', message: `${error.message}; not restarting (gave up after ${attempt} attempt(s))`, fatal: true });
      return;
    }
    const spacing = this.#startedAt + this.#restartDelayMs - this.#clock.now();
    const delay = Math.max(0, Math.ceil(Math.max(backoff, spacing)));
    this.#setState('restarting');
    this.#notify({ level: 'error', message: `${error.message}; ${delay === 0 ? 'restarting now' : `restarting in ${delay} ms`}`, fatal: false });
    this.#restartTimer = this.#clock.setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#state !== 'restarting') return;
      if (this.#slots.length === 0) {
        this.#setState('stopped');
        return;
      }
      void this.#start();
    }, delay);
  };
}

/** What a subscriber that says nothing needs: the frames as they come. */
const FRAMES: ReaderNeed = Object.freeze({ kind: 'frames' });
