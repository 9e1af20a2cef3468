import { runTool } from './x11-windows.js';
import { PermanentSourceError } from './source-errors.js';

/** Why screen capture cannot run here, named so a person knows what to install or set. */
export class CaptureUnavailableError extends PermanentSourceError {
  override readonly name = 'CaptureUnavailableError';
  constructor(
    /** What is missing: `display` (no DISPLAY), `x-server` (cannot connect), `ffmpeg`, `x11-utils`. */
    readonly missing: 'display' | 'x-server' | 'ffmpeg' | 'x11-utils',
    message: string,
  ) {
    super(message);
  }
}

let ffmpegCheck: Promise<boolean> | undefined;

/** `true` when `ffmpeg` runs; checked once per process (installing it needs a restart anyway). */
export function ffmpegInstalled(): Promise<boolean> {
  ffmpegCheck ??= runTool('ffmpeg', ['-hide_banner', '-version'], 5000).then((r) => r.ok);
  return ffmpegCheck;
}

/** The display to capture: the configured one, else `$DISPLAY`. */
export function resolveDisplay(configured: string | undefined): string | undefined {
  const display = configured || process.env['DISPLAY'];
  return display ? display : undefined;
}

/**
 * Resolves with the display when ffmpeg, x11-utils and the X server are all there; otherwise
 * throws a CaptureUnavailableError naming the first thing missing. Nothing is cached but the
 * ffmpeg check, so an X server started later is picked up.
 */
export async function checkCapture(configuredDisplay: string | undefined, needs: { ffmpeg?: boolean } = {}): Promise<string> {
  const display = resolveDisplay(configuredDisplay);
  if (!display) throw new CaptureUnavailableError('display', 'screen capture unavailable: no X display (set DISPLAY or --display)');
  if (needs.ffmpeg !== false && !(await ffmpegInstalled())) throw new CaptureUnavailableError('ffmpeg', 'screen capture unavailable: ffmpeg is not installed (Debian package ffmpeg)');
  const probe = await runTool('xwininfo', ['-display', display, '-root'], 3000);
  if (probe.missing) throw new CaptureUnavailableError('x11-utils', 'screen capture unavailable: xwininfo is not installed (Debian package x11-utils)');
  if (!probe.ok) throw new CaptureUnavailableError('x-server', `screen capture unavailable: cannot connect to X display ${display}`);
  return display;
}
