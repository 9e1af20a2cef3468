import type { CDPSession } from 'playwright-core';
import { Source } from '../sources/source.js';
import { sniffImage } from '../image/sniff.js';

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
}

/**
 * Frames of a live page from CDP `Page.startScreencast`. Each frame is acked as soon as it has
 * been handed to the stream: Chromium sends the next one only after the ack, so acking late
 * (e.g. when clients got it) would cut the frame rate (measured: 100 ms late → 18 fps).
 * Chromium paints only on change; a static page sends one frame and then nothing, and the
 * stream's latest frame covers new subscribers.
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

  constructor(
    private readonly target: ScreencastTarget,
    readonly options: ScreencastOptions,
  ) {
    super();
    this.#interval = 1000 / options.fps;
    this.#maxWidth = options.maxWidth;
    this.#maxHeight = options.maxHeight;
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
    const cdp = this.#cdp;
    if (!this.#running || !cdp) return;
    await cdp.send('Page.stopScreencast').catch(() => {});
    if (this.#cdp !== cdp) return; // failed or stopped meanwhile: the next start uses the new bounds
    await cdp.send('Page.startScreencast', this.#screencastParams());
  }

  #screencastParams() {
    return {
      format: 'jpeg' as const,
      quality: this.options.quality,
      maxWidth: this.#maxWidth,
      maxHeight: this.#maxHeight,
      // Every frame: skipping every other one could skip the only paint a static page makes.
      everyNthFrame: 1,
    };
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
  }

  readonly #cdpOnFrame = (event: ScreencastFrameEvent): void => {
    const cdp = this.#cdp;
    if (!cdp) return;
    this.#armWatchdog();
    cdp.send('Page.screencastFrameAck', { sessionId: event.sessionId }).catch(() => {});
    // Pace to the session's fps, latest frame wins, and the last frame of a burst is always
    // passed on (after a click on a static page it is the only one showing the change).
    const now = performance.now();
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
    this.emit('frame', { bytes, format: 'jpeg', width, height, capturedAt, quality: this.options.quality });
  }
}
