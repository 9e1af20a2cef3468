import { FfmpegSource, type FfmpegSourceOptions } from './ffmpeg-source.js';
import { checkCapture } from './capture-availability.js';
import { rootGeometry } from './x11-windows.js';

export type X11ScreenOptions = FfmpegSourceOptions & {
  /** X display; `$DISPLAY` when unset. */
  display?: string;
  /** Draw the mouse pointer. @default true */
  mouse?: boolean;
};

/** The whole X screen through ffmpeg's `x11grab` (`/stream/0` once screen capture is on). */
export class X11ScreenSource extends FfmpegSource {
  readonly kind = 'screen';
  readonly #display: string | undefined;
  readonly #mouse: boolean;

  constructor(options: X11ScreenOptions) {
    super(options);
    this.#display = options.display;
    this.#mouse = options.mouse ?? true;
  }

  protected async inputArgs(): Promise<string[]> {
    const display = await checkCapture(this.#display);
    // The screen size is read at each start: a resolution change is picked up on restart.
    const root = await rootGeometry(display);
    return [
      '-f', 'x11grab', '-draw_mouse', this.#mouse ? '1' : '0', '-framerate', String(this.fps),
      '-video_size', `${root.width}x${root.height}`, '-i', display,
    ];
  }
}
