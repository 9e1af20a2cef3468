import { FfmpegSource, type FfmpegSourceOptions } from './ffmpeg-source.js';
import type { FfmpegExit } from './ffmpeg-process.js';
import { CaptureUnavailableError, ffmpegInstalled } from './capture-availability.js';
import type { SourceExit } from './source.js';

/** Exactly one input: a file, a V4L2 device, a network URL or an ffmpeg lavfi graph. */
export type VideoInput =
  | { file: string; loop: boolean }
  | { device: string }
  | { url: string }
  | { lavfi: string };

export type VideoSourceOptions = FfmpegSourceOptions & { input: VideoInput };

/**
 * Video decoded by ffmpeg and re-encoded as MJPEG at the configured rate: files are read at
 * their own speed (`-re`), looped or played once; cameras and URLs are live; a lavfi graph is
 * paced with `-re` too (without it ffmpeg makes ~300 fps).
 */
export class VideoSource extends FfmpegSource {
  readonly kind = 'video';
  readonly input: VideoInput;

  constructor(options: VideoSourceOptions) {
    super(options);
    this.input = options.input;
  }

  protected async inputArgs(resumeAt: number): Promise<string[]> {
    if (!(await ffmpegInstalled())) throw new CaptureUnavailableError('ffmpeg', 'video source unavailable: ffmpeg is not installed (Debian package ffmpeg)');
    const input = this.input;
    if ('file' in input) {
      // A restart for new outputs continues where the file was (an input seek, to the keyframe
      // at or before it), not from the start; live inputs and lavfi graphs just go on.
      const seek = resumeAt > 0 ? ['-ss', resumeAt.toFixed(3)] : [];
      return ['-re', ...(input.loop ? ['-stream_loop', '-1'] : []), ...seek, '-i', input.file];
    }
    if ('device' in input) {
      const { width, height } = this.options;
      return ['-f', 'v4l2', '-framerate', String(this.fps), ...(width && height ? ['-video_size', `${width}x${height}`] : []), '-i', input.device];
    }
    if ('url' in input) {
      // RTSP over TCP: UDP loses packets (and frames) on any busy network.
      return [...(/^rtsps?:/i.test(input.url) ? ['-rtsp_transport', 'tcp'] : []), '-i', input.url];
    }
    return ['-re', '-f', 'lavfi', '-i', input.lavfi];
  }

  protected override firstFrameMs(): number {
    // A network input connects and probes first; a camera that answers slowly is not stuck.
    if ('url' in this.input) return this.options.firstFrameTimeoutMs ?? this.options.stallTimeoutMs ?? Math.max(15_000, this.watchdogMs());
    return super.firstFrameMs();
  }

  protected override watchdogMs(): number {
    // A network stream may pause for a moment without anything being wrong with ffmpeg.
    if ('url' in this.input) return this.options.stallTimeoutMs ?? Math.max(5000, Math.ceil(4000 / this.fps));
    return super.watchdogMs();
  }

  protected override async classifyExit(exit: FfmpegExit): Promise<SourceExit | undefined> {
    // A file played once ends cleanly: that is the end of the stream, not a crash.
    if ('file' in this.input && !this.input.loop && exit.code === 0 && !exit.signal) {
      return { error: new Error(`video ${this.input.file} has ended`), restartable: false };
    }
    return super.classifyExit(exit);
  }
}
