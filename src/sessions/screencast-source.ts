import type { CDPSession } from 'playwright-core';
import { Source } from '../sources/source.js';
import type { Frame } from '../sources/frame.js';
import type { FrameRequest, PictureSize } from '../sources/demand.js';
import { sniffImage } from '../image/sniff.js';
import { targetSize } from '../hub/variant-spec.js';

/** Where a screencast comes from: the page of a session, which may be replaced after a crash. */
export interface ScreencastTarget {
  /** A CDP session on the current page; waits while the page is being (re)created. */
  cdp(): Promise<CDPSession>;
  /**
   * Asked by the watchdog after a silence: `true` when the page is alive (just not painting),
   * `false` when it was stuck (the target then replaces it and fails this source).
   */
  responsive(): Promise<boolean>;
}

/** The part of CDP's `Page.screencastFrame` event used here. */
interface ScreencastFrameEvent {
  data: string;
  sessionId: number;
  metadata: { deviceWidth: number; deviceHeight: number; timestamp?: number };
}

export interface ScreencastOptions {
  /** JPEG quality Chromium encodes at, 10-100. */
  quality: number;
  /** Most frames a second passed on, 1-60. */
  fps: number;
  maxWidth: number;
  maxHeight: number;
  /** Silence after which the watchdog checks the page. @default max(2000, 4 frame intervals) */
  watchdogMs?: number;
  /**
   * How long the readers must have needed less (a smaller size, a lower quality) before the
   * screencast follows them down; more is followed at once. @default 5000
   */
  lowerAfterMs?: number;
}

/** Frames arriving within this window tell how fast the page paints. */
const RATE_WINDOW_MS = 500;
/**
 * Chromium sends at least this many times the session's fps before frames are skipped in the
 * browser (everyNthFrame): below it, little is encoded only to be dropped here.
 */
const SKIP_ABOVE = 1.4;
/** Most page frames one sent frame stands for. */
const MAX_NTH = 4;
/**
 * After frames slowed down while skipping (a busy machine), every frame for at least this
 * long: each switch restarts the screencast, which costs a gap of a few frames.
 */
const SLOW_BACKOFF_MS = 5000;

/** See ScreencastOptions.lowerAfterMs. */
const LOWER_AFTER_MS = 5000;

/**
 * Frames of a live page from CDP `Page.startScreencast`. Each frame is acked as soon as it has
 * been handed to the stream: Chromium sends the next one only after the ack, so acking late
 * (e.g. when clients got it) would cut the frame rate (measured: 100 ms late → 18 fps).
 * Chromium paints only on change; a static page sends one frame and then nothing, and the
 * stream's latest frame covers new subscribers.
 *
 * A page that paints faster than the session's fps (an animation at 60 Hz, a 30 fps session)
 * would have Chromium copy and JPEG-encode every paint, half of them dropped here: the
 * screencast is then restarted with `everyNthFrame` so that Chromium encodes only about the
 * frames passed on (docs/benchmarks.md, "Browser sessions"). A skipped frame may be the last
 * paint before the page goes still, so when frames stop coming for a few page frames the
 * screencast is restarted with every frame again: a start sends the page as it is now.
 *
 * Chromium also encodes only the size and quality some reader needs (`demand`: the largest
 * variant viewers ask for, an H.264 tier's size, a screenshot's full size; never above the
 * session's own): with every viewer on a 640-wide variant at quality 50 it sends 640-wide frames
 * at quality 50, which then pass through untouched. More is followed at once (a restart of the
 * screencast, which costs a gap of about a frame), less only after `lowerAfterMs`, so a viewer
 * coming and going does not restart it each time.
 */
export class ScreencastSource extends Source {
  readonly kind = 'chromium';
  #cdp: CDPSession | undefined;
  #running = false;
  #interval: number;
  #nextDue = 0;
  #held: ScreencastFrameEvent | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Set by `fail()`; the next successful start reports that the page is back. */
  #recovering = false;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  readonly #watchdogMs: number;
  /** The frame bounds now: `options`' at first, the page's new size after a resize. */
  #maxWidth: number;
  #maxHeight: number;
  /** Chromium sends every `#nth`th frame the page paints. */
  #nth = 1;
  /** Arrival (performance.now) and capture time (ms) of the frames of the last RATE_WINDOW_MS. */
  #recent: { at: number; capturedAt: number }[] = [];
  /** The page's frame period measured when frames started being skipped (ms). */
  #pagePeriod = 0;
  /** Frames stopped coming while skipping: every frame again (see the class comment). */
  #settle: ReturnType<typeof setTimeout> | undefined;
  /** No skipping before this (performance.now), after a slow-down. */
  #skipNotBefore = 0;
  /** Restarts of the screencast (a new everyNthFrame, new bounds), one after the other. */
  #restarts: Promise<void> = Promise.resolve();
  /** Restarts not finished yet: no frames then is the restart's gap, not a still page. */
  #restarting = 0;
  /** The size and quality the screencast runs at (what the readers needed when last followed). */
  #sent: PictureSize;
  /** JPEG quality of the frames arriving now: during a restart the lower of the old and new. */
  #frameQuality: number;
  /** Pending follow of the readers' demand: at once for more, after lowerAfterMs for less. */
  #follow: ReturnType<typeof setTimeout> | undefined;
  #followLower = false;
  #stopDemand: (() => void) | undefined;
  readonly #lowerAfterMs: number;

  constructor(
    private readonly target: ScreencastTarget,
    readonly options: ScreencastOptions,
  ) {
    super();
    this.#interval = 1000 / options.fps;
    this.#maxWidth = options.maxWidth;
    this.#maxHeight = options.maxHeight;
    this.#sent = this.#full();
    this.#frameQuality = options.quality;
    this.#lowerAfterMs = options.lowerAfterMs ?? LOWER_AFTER_MS;
    // Chromium paints only on change, so silence alone proves nothing: after this long without a
    // frame the watchdog asks the page whether it is alive (a cheap script run), and only a page
    // that does not answer is replaced. Four frame intervals, at least 2 s.
    this.#watchdogMs = options.watchdogMs ?? Math.max(2000, Math.ceil(4 * this.#interval));
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    let cdp: CDPSession;
    try {
      cdp = await this.target.cdp();
      if (!this.#running) return;
      cdp.on('Page.screencastFrame', this.#cdpOnFrame);
      this.#cdp = cdp;
      this.#stopDemand ??= this.demand.onChange(this.#demandOnChange);
      this.#sent = this.demand.largest(this.#full()) ?? this.#full();
      this.#frameQuality = this.#sent.quality;
      await cdp.send('Page.startScreencast', this.#screencastParams());
    } catch (error) {
      this.#teardown();
      throw error;
    }
    this.#armWatchdog();
    if (this.#recovering) {
      this.#recovering = false;
      this.emit('status', 'browser page is back');
    }
  }

  /**
   * Frames at most `maxWidth`x`maxHeight` from now on (the session's page was resized): a
   * running screencast is restarted with the new bounds, or its frames would keep the old scale.
   */
  async resize(maxWidth: number, maxHeight: number): Promise<void> {
    this.#maxWidth = maxWidth;
    this.#maxHeight = maxHeight;
    this.#sent = this.demand.largest(this.#full()) ?? this.#full();
    await this.#restart();
  }

  /** The size and quality Chromium encodes at now (followed from the readers' demand). */
  get sending(): PictureSize {
    return this.#sent;
  }

  /** What the session could send: the page's size, the session's quality. */
  #full(): PictureSize {
    return { width: this.#maxWidth, height: this.#maxHeight, quality: this.options.quality };
  }

  /**
   * A frame serves a reader when it is at least the size and quality the reader asked, as far
   * as the session sends them (Chromium scales to whole pixels: one pixel short is the same size).
   */
  override serves(frame: Frame, request: FrameRequest): boolean {
    const full = this.#full();
    const wanted = targetSize(full.width, full.height, request);
    const quality = Math.min(full.quality, request.quality ?? full.quality);
    return frame.width >= wanted.width - 1 && frame.height >= wanted.height - 1 && (frame.quality ?? 0) >= quality;
  }

  /** The readers' needs changed: follow them up at once, down after lowerAfterMs of needing less. */
  readonly #demandOnChange = (): void => {
    if (!this.#running) return;
    const wanted = this.demand.largest(this.#full());
    if (!wanted) return; // nobody reads: the stream stops the source after its grace; keep what runs
    const sent = this.#sent;
    const more = wanted.width > sent.width || wanted.height > sent.height || wanted.quality > sent.quality;
    const same = wanted.width === sent.width && wanted.height === sent.height && wanted.quality === sent.quality;
    if (same) {
      this.#cancelFollow();
      return;
    }
    // A reader that changes its variant holds the new need before it gives the old one back:
    // follow on the next turn, when both changes are in.
    if (more) {
      if (this.#follow !== undefined && !this.#followLower) return;
      this.#cancelFollow();
      this.#follow = setTimeout(this.#followDemand, 0);
    } else {
      if (this.#follow !== undefined) return;
      this.#followLower = true;
      this.#follow = setTimeout(this.#followDemand, this.#lowerAfterMs);
    }
    this.#follow.unref();
  };

  readonly #followDemand = (): void => {
    const lower = this.#followLower;
    this.#follow = undefined;
    this.#followLower = false;
    if (!this.#running) return;
    const wanted = this.demand.largest(this.#full());
    const sent = this.#sent;
    if (!wanted) return;
    // Up at once only where more is needed; what is needed less waits out its own delay.
    const next = lower ? wanted : {
      width: Math.max(sent.width, wanted.width), height: Math.max(sent.height, wanted.height), quality: Math.max(sent.quality, wanted.quality),
    };
    if (next.width !== sent.width || next.height !== sent.height || next.quality !== sent.quality) {
      this.#sent = next;
      void this.#restart().catch(() => {});
    }
    if (!lower) this.#demandOnChange();
  };

  #cancelFollow(): void {
    if (this.#follow !== undefined) clearTimeout(this.#follow);
    this.#follow = undefined;
    this.#followLower = false;
  }

  /** Chromium sends every this-many-th frame the page paints now (1: every frame). */
  get everyNthFrame(): number {
    return this.#nth;
  }

  /**
   * Stops and starts the running screencast with the current parameters; restarts run one
   * after the other (two at once would start it twice).
   */
  #restart(): Promise<void> {
    const cdp = this.#cdp;
    if (!this.#running || !cdp) return Promise.resolve();
    this.#restarting++;
    const restart = this.#restarts.then(async () => {
      if (this.#cdp !== cdp) return; // failed or stopped meanwhile: the next start uses the new parameters
      const params = this.#screencastParams();
      // Frames of the old screencast may still come until the new one runs.
      this.#frameQuality = Math.min(this.#frameQuality, params.quality);
      await cdp.send('Page.stopScreencast').catch(() => {});
      if (this.#cdp !== cdp) return;
      this.#recent = [];
      await cdp.send('Page.startScreencast', params);
      this.#frameQuality = params.quality;
    }).finally(() => {
      this.#restarting--;
    });
    this.#restarts = restart.catch(() => {});
    return restart;
  }

  #screencastParams() {
    return {
      format: 'jpeg' as const,
      quality: this.#sent.quality,
      maxWidth: this.#sent.width,
      maxHeight: this.#sent.height,
      everyNthFrame: this.#nth,
    };
  }

  /**
   * Follows the page's paint rate (see the class comment): skips frames in Chromium while it
   * paints well above the session's fps, every frame again when it slows down or goes still.
   */
  #followPaintRate(now: number, capturedAt: number): void {
    const recent = this.#recent;
    recent.push({ at: now, capturedAt });
    while (recent.length > 0 && now - recent[0]!.at > RATE_WINDOW_MS) recent.shift();
    if (this.#nth === 1) {
      if (now < this.#skipNotBefore || recent.length < 8 || recent.length * (1000 / RATE_WINDOW_MS) < SKIP_ABOVE * this.options.fps) return;
      // The page's frame period: the lower quartile of the capture-time steps (a busy Chromium
      // misses some paints, which makes longer steps, never shorter ones).
      const steps = recent.slice(1).map((frame, i) => frame.capturedAt - recent[i]!.capturedAt).filter((step) => step > 0).sort((a, b) => a - b);
      const period = steps[Math.floor(steps.length / 4)];
      if (period === undefined) return;
      // 10 % slack: a 60 Hz page and a 30 fps session make 2, a 40 fps one 1.
      const nth = Math.min(MAX_NTH, Math.floor((1.1 * this.#interval) / period));
      if (nth < 2) return;
      this.#nth = nth;
      this.#pagePeriod = period;
      this.#armSettle();
      void this.#restart().catch(() => {});
      return;
    }
    this.#armSettle();
    // Slowed down: frames come more than 1.5 session intervals apart on the whole.
    if (recent.length >= 4 && (now - recent[0]!.at) / (recent.length - 1) > 1.5 * this.#interval) {
      this.#skipNotBefore = now + SLOW_BACKOFF_MS;
      this.#everyFrame();
    }
  }

  #armSettle(): void {
    if (this.#settle !== undefined) {
      this.#settle.refresh();
      return;
    }
    // A few page frames without one sent: the page went still, perhaps on a skipped paint.
    this.#settle = setTimeout(() => {
      this.#settle = undefined;
      if (this.#restarting > 0) this.#armSettle();
      else this.#everyFrame();
    }, Math.ceil(2 * this.#nth * this.#pagePeriod) + 10);
    this.#settle.unref();
  }

  #everyFrame(): void {
    if (this.#settle !== undefined) clearTimeout(this.#settle);
    this.#settle = undefined;
    if (this.#nth === 1 || !this.#running) return;
    this.#nth = 1;
    void this.#restart().catch(() => {});
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    const cdp = this.#cdp;
    this.#teardown();
    await cdp?.send('Page.stopScreencast').catch(() => {
      // The page may be gone already; nothing left to stop then.
    });
  }

  /** The page crashed or the browser died: stop, and let the stream restart us (on a new page). */
  fail(error: Error): void {
    this.#recovering = true;
    if (!this.#running) return;
    this.#teardown();
    this.emit('exit', { error, restartable: true });
  }

  /** The session is closing: subscribers hear it as the end of the stream, not as a crash. */
  end(error: Error): void {
    if (!this.#running) return;
    this.#teardown();
    this.emit('exit', { error, restartable: false });
  }

  #armWatchdog(): void {
    if (this.#watchdog !== undefined) {
      this.#watchdog.refresh();
      return;
    }
    this.#watchdog = setTimeout(this.#watchdogOnSilence, this.#watchdogMs);
    this.#watchdog.unref();
  }

  readonly #watchdogOnSilence = (): void => {
    this.#watchdog = undefined;
    if (!this.#running) return;
    const cdp = this.#cdp;
    this.target.responsive().then(
      (alive) => {
        // Re-armed only for the page it checked; a failed page is replaced and restarted.
        if (alive && this.#running && this.#cdp === cdp) this.#armWatchdog();
      },
      () => {
        if (this.#running && this.#cdp === cdp) this.#armWatchdog();
      },
    );
  };

  #teardown(): void {
    this.#running = false;
    if (this.#watchdog !== undefined) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    this.#cdp?.off('Page.screencastFrame', this.#cdpOnFrame);
    this.#cdp = undefined;
    this.#held = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#settle !== undefined) clearTimeout(this.#settle);
    this.#settle = undefined;
    this.#cancelFollow();
    this.#stopDemand?.();
    this.#stopDemand = undefined;
    // A new start (a new page after a crash) begins with every frame, as the first start did.
    this.#nth = 1;
    this.#recent = [];
  }

  readonly #cdpOnFrame = (event: ScreencastFrameEvent): void => {
    const cdp = this.#cdp;
    if (!cdp) return;
    this.#armWatchdog();
    cdp.send('Page.screencastFrameAck', { sessionId: event.sessionId }).catch(() => {});
    const now = performance.now();
    this.#followPaintRate(now, event.metadata.timestamp !== undefined ? event.metadata.timestamp * 1000 : Date.now());
    // Pace to the session's fps, latest frame wins, and the last frame of a burst is always
    // passed on (after a click on a static page it is the only one showing the change).
    if (now >= this.#nextDue && this.#timer === undefined) {
      this.#pass(event, now);
      return;
    }
    this.#held = event;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      const held = this.#held;
      this.#held = undefined;
      if (held && this.#running) this.#pass(held, performance.now());
    }, Math.max(0, this.#nextDue - now));
  };

  #pass(event: ScreencastFrameEvent, now: number): void {
    this.#nextDue = now + this.#interval;
    const bytes = Buffer.from(event.data, 'base64');
    const info = sniffImage(bytes);
    const width = info?.width ?? Math.round(event.metadata.deviceWidth);
    const height = info?.height ?? Math.round(event.metadata.deviceHeight);
    // metadata.timestamp is when Chromium composited the frame (seconds since the epoch).
    const capturedAt = event.metadata.timestamp !== undefined ? event.metadata.timestamp * 1000 : Date.now();
    this.emit('frame', { bytes, format: 'jpeg', width, height, capturedAt, quality: this.#frameQuality });
  }
}
