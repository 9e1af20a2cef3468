import { Source, type CaptureOutput, type SourceExit } from './source.js';
import { FfmpegProcess, describeFfmpegExit, type FfmpegExit } from './ffmpeg-process.js';
import { MjpegSplitter } from './mjpeg-splitter.js';
import { PermanentSourceError } from './source-errors.js';
import { preciseNow } from '../util/clock.js';
import { sniffImage } from '../image/sniff.js';

/** Where ffmpeg's stderr goes: the server's logger at debug level. */
export interface DebugLog {
  debug(obj: Record<string, unknown>, msg: string): void;
}

export interface FfmpegSourceOptions {
  /** Frames per second ffmpeg emits. */
  fps: number;
  /**
   * Nominal JPEG quality (10-100) of the frames: ffmpeg's `-q:v` is derived from it and frames
   * carry it, so a client asking for this quality gets ffmpeg's bytes untouched.
   */
  quality: number;
  /** Scale the output to this size (both or neither). */
  width?: number;
  height?: number;
  log?: DebugLog;
  /** ffmpeg binary. @default 'ffmpeg' */
  command?: string;
  /**
   * Frame watchdog: an ffmpeg that produced no frame for this long is killed with SIGKILL (which
   * also ends a stopped one) and its exit reported, so the stream restarts it.
   * @default max(2000, 4 frame intervals) (see `FfmpegSource.watchdogMs`)
   */
  stallTimeoutMs?: number;
  /** The watchdog's allowance for the first frame of a new ffmpeg. @default stallTimeoutMs if set, else 5000 (15000 for network inputs) */
  firstFrameTimeoutMs?: number;
}

/**
 * ffmpeg's MJPEG `-q:v` (2-31) closest to libjpeg quality `quality`.
 *
 * ffmpeg's MJPEG encoder quantises with MPEG-1's intra matrix × qscale / 8, libjpeg with the
 * JPEG Annex K table scaled by 5000/Q or 200-2Q percent. Equal mean quantiser step gives
 * qscale ≈ 0.1396 × scale%: Q80 → 6, Q50 → 14, Q90 → 3. Only nominal (the matrices differ in
 * shape), which is why frames carry the configured quality, not a measured one.
 */
export function qscaleForQuality(quality: number): number {
  const scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  return Math.min(31, Math.max(2, Math.round(scale * 0.1396)));
}

/**
 * A source whose frames come from an ffmpeg child writing MJPEG to a pipe. Subclasses say what
 * ffmpeg reads (`inputArgs`) and what an unexpected exit means (`classifyExit`); this class
 * runs the process, splits its output into frames and reports exits.
 */
export abstract class FfmpegSource extends Source {
  readonly fps: number;
  readonly quality: number;
  protected readonly options: FfmpegSourceOptions;
  #process: FfmpegProcess | undefined;
  #running = false;
  /** Bumped by every start() and stop(), so a start that was overtaken while it awaited does nothing. */
  #generation = 0;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  #stallMs = 0;
  /** The process the stall watchdog killed, so its exit is reported as a stall. */
  #stalled: FfmpegProcess | undefined;
  /** Frame size from ffmpeg's output, read from the first frame's header. */
  #size: { width: number; height: number } | undefined;
  /** Extra outputs wanted, and those the running process has. */
  #outputs: readonly CaptureOutput[] = [];
  #spawnedOutputs: readonly CaptureOutput[] = [];
  /** JPEG pictures out of the running process. */
  #pictures = 0;
  /** Where in its input the running process started, seconds (a restart for new outputs resumes there). */
  #startedAt = 0;
  #reconfigure: ReturnType<typeof setImmediate> | undefined;

  constructor(options: FfmpegSourceOptions) {
    super();
    this.options = options;
    this.fps = options.fps;
    this.quality = options.quality;
  }

  /** Process id of the running ffmpeg, if any (tests kill it to check recovery). */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * ffmpeg arguments up to and including `-i <input>`, or `undefined` when there is nothing to
   * capture right now (the source stays started without a process until `respawn()`). Throws
   * PermanentSourceError when starting cannot succeed. `resumeAt` > 0 when the process restarts
   * to change its outputs: a seekable input (a file) continues from there, seconds.
   */
  protected abstract inputArgs(resumeAt: number): Promise<string[] | undefined>;

  /** What an exit nobody asked for means; `undefined` when the subclass handled it itself. Default: try again. */
  protected async classifyExit(exit: FfmpegExit): Promise<SourceExit | undefined> {
    return { error: new Error(describeFfmpegExit(exit)), restartable: exit.spawnError === undefined || (exit.spawnError as NodeJS.ErrnoException).code !== 'ENOENT' };
  }

  /**
   * How long a running ffmpeg may go without a frame. Every ffmpeg source here writes frames at
   * a constant rate (`-r`), whatever it captures: x11grab grabs an unchanging desktop or window
   * at its full framerate, a file or lavfi graph is paced by `-re`. So silence means a stuck
   * process (SIGSTOP, a hung device or network read), never a quiet picture: four frame
   * intervals, and no less than 2 s so a loaded machine's scheduling hiccup does not count.
   */
  protected watchdogMs(): number {
    return this.options.stallTimeoutMs ?? Math.max(2000, Math.ceil(4000 / this.fps));
  }

  /** How long a new ffmpeg may take to its first frame (opening and probing the input). */
  protected firstFrameMs(): number {
    return this.options.firstFrameTimeoutMs ?? this.options.stallTimeoutMs ?? Math.max(5000, this.watchdogMs());
  }

  /** Output filters (scaling), `-vf` value or undefined. */
  protected videoFilter(): string | undefined {
    const { width, height } = this.options;
    return width && height ? `scale=${width}:${height}` : undefined;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const generation = ++this.#generation;
    let input: string[] | undefined;
    try {
      input = await this.inputArgs(0);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#running = false;
      if (error instanceof PermanentSourceError) {
        this.emit('exit', { error, restartable: false });
        return;
      }
      throw error;
    }
    // stop() (and maybe another start()) may have run while we looked things up.
    if (generation === this.#generation && this.#running && input && !this.#process) this.#spawn(input, 0);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#generation++;
    this.#clearStall();
    const process = this.#process;
    this.#process = undefined;
    if (process) await process.stop();
  }

  override addOutput(output: CaptureOutput): () => void {
    this.#outputs = [...this.#outputs, output];
    this.#scheduleReconfigure();
    return () => {
      if (!this.#outputs.includes(output)) return;
      this.#outputs = this.#outputs.filter((o) => o !== output);
      this.#scheduleReconfigure();
    };
  }

  /**
   * ffmpeg cannot add or drop an output of a running process: a new set of outputs means a new
   * process, started where the old one was in its input (JPEG viewers see the restart as a short
   * gap). Changes within one turn of the event loop make one restart.
   */
  #scheduleReconfigure(): void {
    this.#reconfigure ??= setImmediate(() => {
      this.#reconfigure = undefined;
      const spawned = this.#spawnedOutputs;
      const same = spawned.length === this.#outputs.length && spawned.every((o) => this.#outputs.includes(o));
      if (!this.#process || same) return;
      void this.respawn(this.#startedAt + this.#pictures / this.fps);
    });
  }

  /** Replaces the running ffmpeg with a fresh one (new geometry, or outputs); no exit is reported. */
  protected async respawn(resumeAt = 0): Promise<void> {
    const old = this.#process;
    this.#process = undefined;
    if (old) await old.stop();
    if (!this.#running) return;
    let input: string[] | undefined;
    try {
      input = await this.inputArgs(resumeAt);
    } catch (error) {
      if (!this.#running) return;
      this.#running = false;
      this.emit('exit', { error: error as Error, restartable: !(error instanceof PermanentSourceError) });
      return;
    }
    if (input && this.#running && !this.#process) this.#spawn(input, resumeAt);
  }

  /** Ends the source from a subclass (e.g. the window closed): stops ffmpeg, reports the exit once. */
  protected async fail(exit: SourceExit): Promise<void> {
    if (!this.#running) return;
    await this.stop();
    this.emit('exit', exit);
  }

  #spawn(input: string[], startedAt: number): void {
    const outputs = this.#outputs;
    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      ...input,
      ...(outputs.length === 0 ? this.#jpegOnlyArgs() : this.#withOutputsArgs(outputs)),
    ];
    const process = new FfmpegProcess(args, { outputs: outputs.length, ...(this.options.command && { command: this.options.command }) });
    this.#process = process;
    this.#size = undefined;
    this.#spawnedOutputs = outputs;
    this.#pictures = 0;
    this.#startedAt = startedAt;
    for (const output of outputs) output.started();
    process.on('output', function ffmpegOnOutput({ index, chunk }) {
      outputs[index]!.data(chunk);
    });
    const splitter = new MjpegSplitter((jpeg) => this.#onJpeg(process, jpeg));
    process.on('data', function ffmpegOnData(chunk) {
      splitter.push(chunk);
    });
    const log = this.options.log;
    process.on('stderr', function ffmpegOnStderr(line) {
      log?.debug({ pid: process.pid, ffmpeg: line }, 'ffmpeg stderr');
    });
    process.on('exit', (exit) => void this.#onExit(process, exit));
    log?.debug({ pid: process.pid, args: args.join(' ') }, 'ffmpeg started');
    // The first frame may take longer (network inputs connect and probe first).
    this.#clearStall();
    this.#armStall(process, this.firstFrameMs());
  }

  /** The MJPEG output alone: what every process had before extra outputs. */
  #jpegOnlyArgs(): string[] {
    const filter = this.videoFilter();
    return [
      '-an', '-sn',
      ...(filter ? ['-vf', filter] : []),
      '-r', String(this.fps),
      ...this.#jpegArgs(),
    ];
  }

  /**
   * The MJPEG output and the extra ones from one decoded picture each: the rate is fixed once
   * (`fps` before `split`, every output `-fps_mode passthrough`), so every output gets the same
   * pictures in the same order and output picture n is JPEG frame n (same capture time).
   */
  #withOutputsArgs(outputs: readonly CaptureOutput[]): string[] {
    const filter = this.videoFilter();
    const labels = outputs.map((_, i) => `[t${i}]`).join('');
    const graph = [
      `[0:v]${filter ? `${filter},` : ''}fps=${this.fps},split=${outputs.length + 1}[jpeg]${labels}`,
      ...outputs.map((output, i) => `[t${i}]${output.filter || 'null'}[o${i}]`),
    ].join(';');
    return [
      '-filter_complex', graph,
      '-map', '[jpeg]', '-fps_mode', 'passthrough', ...this.#jpegArgs(),
      ...outputs.flatMap((output, i) => ['-map', `[o${i}]`, ...output.args, `pipe:${3 + i}`]),
    ];
  }

  #jpegArgs(): string[] {
    return [
      // yuvj420p: full-range 4:2:0, what browsers and libjpeg expect; smaller and faster than 4:4:4.
      '-pix_fmt', 'yuvj420p',
      '-c:v', 'mjpeg', '-q:v', String(qscaleForQuality(this.quality)),
      '-f', 'mjpeg', 'pipe:1',
    ];
  }

  #onJpeg(process: FfmpegProcess, bytes: Buffer): void {
    if (process !== this.#process) return;
    const index = this.#pictures++;
    if (!this.#size) {
      const info = sniffImage(bytes);
      if (!info?.width || !info.height) return;
      this.#size = { width: info.width, height: info.height };
    }
    this.#armStall(process, this.watchdogMs());
    const capturedAt = preciseNow();
    const { width, height } = this.#size;
    this.emit('frame', {
      bytes, format: 'jpeg', width, height,
      capturedAt, quality: this.quality, meta: { source: this.kind },
    });
    for (const output of this.#spawnedOutputs) output.picture(index, capturedAt, width, height);
  }

  async #onExit(process: FfmpegProcess, exit: FfmpegExit): Promise<void> {
    if (exit.requested || process !== this.#process) return;
    this.#process = undefined;
    this.#clearStall();
    this.options.log?.debug({ pid: process.pid, code: exit.code, signal: exit.signal }, 'ffmpeg exited');
    let verdict = await this.classifyExit(exit);
    if (!verdict || !this.#running || this.#process) return; // handled, stopped or respawned meanwhile
    if (this.#stalled === process) verdict = { ...verdict, error: new Error(`no frame from ffmpeg for ${this.#stallMs} ms (${verdict.error.message})`) };
    this.#running = false;
    this.emit('exit', verdict);
  }

  #armStall(process: FfmpegProcess, ms: number): void {
    // Re-armed on every frame: refresh() the running timer rather than making a new one.
    if (this.#stallTimer !== undefined && this.#stallMs === ms) {
      this.#stallTimer.refresh();
      return;
    }
    this.#clearStall();
    this.#stallMs = ms;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (process !== this.#process) return;
      this.options.log?.debug({ pid: process.pid }, `no frame from ffmpeg for ${ms} ms; killing it`);
      // The exit that follows is unrequested, so it is reported and the stream restarts it.
      this.#stalled = process;
      process.kill();
    }, ms);
    this.#stallTimer.unref();
  }

  #clearStall(): void {
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }
}
