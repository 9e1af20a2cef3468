import { FfmpegSource, type FfmpegSourceOptions } from './ffmpeg-source.js';
import type { FfmpegExit } from './ffmpeg-process.js';
import { checkCapture, resolveDisplay } from './capture-availability.js';
import { PermanentSourceError } from './source-errors.js';
import type { SourceExit } from './source.js';
import { hexId, rootGeometry, windowGeometry, type WindowGeometry } from './x11-windows.js';

export type X11WindowOptions = FfmpegSourceOptions & {
  /** X window id. */
  windowId: number;
  /** X display; `$DISPLAY` when unset. */
  display?: string;
  /** How often the window's geometry is read, ms. @default 500 */
  pollMs?: number;
};

/** Polls may reuse a screen size this old: one process a poll instead of two. */
const ROOT_MAX_AGE_MS = 5000;

/** The part of a window that is on screen, in the window's own coordinates. */
interface CaptureRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

function sameRect(a: CaptureRect | undefined, b: CaptureRect | undefined): boolean {
  return a === b || (!!a && !!b && a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height);
}

/** The on-screen part of `window` on a `screen`-sized root, or undefined when none of it shows. */
export function visibleRect(window: WindowGeometry, screen: { width: number; height: number }): CaptureRect | undefined {
  if (!window.viewable) return undefined;
  const left = Math.max(0, window.x);
  const top = Math.max(0, window.y);
  const right = Math.min(screen.width, window.x + window.width);
  const bottom = Math.min(screen.height, window.y + window.height);
  if (right - left < 2 || bottom - top < 2) return undefined;
  return { x: left - window.x, y: top - window.y, width: right - left, height: bottom - top };
}

/**
 * One X window through ffmpeg's `x11grab -window_id`. ffmpeg grabs from the window itself, so
 * a move needs nothing; the geometry is polled and ffmpeg restarted when the window's visible
 * size changes (a resize, or sliding partly off screen). A window that is unmapped or wholly
 * off screen pauses the capture; a window that no longer exists ends the stream for good.
 */
export class X11WindowSource extends FfmpegSource {
  readonly kind = 'window';
  readonly windowId: number;
  readonly #display: string | undefined;
  readonly #pollMs: number;
  #rect: CaptureRect | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #polling = false;

  constructor(options: X11WindowOptions) {
    super(options);
    this.windowId = options.windowId;
    this.#display = options.display;
    this.#pollMs = options.pollMs ?? 500;
  }

  override async start(): Promise<void> {
    if (this.running) return;
    await super.start();
    if (this.running) this.#schedulePoll();
  }

  override async stop(): Promise<void> {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
    await super.stop();
  }

  protected async inputArgs(): Promise<string[] | undefined> {
    const display = await checkCapture(this.#display);
    const [window, screen] = await Promise.all([windowGeometry(display, this.windowId), rootGeometry(display)]);
    if (!window) throw new PermanentSourceError(`window ${hexId(this.windowId)} does not exist on ${display}`);
    const rect = visibleRect(window, screen);
    this.#rect = rect;
    if (!rect) {
      this.emit('status', `window ${hexId(this.windowId)} is not visible; capture resumes when it is`);
      return undefined;
    }
    return [
      '-f', 'x11grab', '-draw_mouse', '0', '-framerate', String(this.fps),
      '-window_id', String(this.windowId),
      '-grab_x', String(rect.x), '-grab_y', String(rect.y), '-video_size', `${rect.width}x${rect.height}`,
      '-i', display,
    ];
  }

  protected override async classifyExit(exit: FfmpegExit): Promise<SourceExit | undefined> {
    // ffmpeg stops (often with code 0) when the window it grabs changes under it: ask X why.
    const display = resolveDisplay(this.#display) ?? '';
    const window = await windowGeometry(display, this.windowId).catch(() => null);
    if (window === undefined) return { error: new Error(`window ${hexId(this.windowId)} was closed`), restartable: false };
    if (window) {
      const screen = await rootGeometry(display).catch(() => undefined);
      if (screen && !sameRect(visibleRect(window, screen), this.#rect)) {
        void this.#refresh(window, screen);
        return undefined;
      }
    }
    return super.classifyExit(exit);
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== undefined || this.#polling) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      void this.#poll();
    }, this.#pollMs);
    this.#pollTimer.unref();
  }

  async #poll(): Promise<void> {
    if (!this.running) return;
    this.#polling = true;
    try {
      const display = resolveDisplay(this.#display) ?? '';
      const [window, screen] = await Promise.all([windowGeometry(display, this.windowId), rootGeometry(display, ROOT_MAX_AGE_MS)]);
      if (!this.running) return;
      if (!window) {
        await this.fail({ error: new Error(`window ${hexId(this.windowId)} was closed`), restartable: false });
        return;
      }
      await this.#refresh(window, screen);
    } catch {
      // The X server did not answer this time (busy, or gone: then ffmpeg exits and says so).
    } finally {
      this.#polling = false;
      if (this.running) this.#schedulePoll();
    }
  }

  async #refresh(window: WindowGeometry, screen: { width: number; height: number }): Promise<void> {
    const rect = visibleRect(window, screen);
    if (sameRect(rect, this.#rect)) return;
    if (rect) this.emit('status', `window ${hexId(this.windowId)} is now ${rect.width}x${rect.height} on screen; capture restarted`);
    await this.respawn();
  }
}
