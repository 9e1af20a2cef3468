import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { FfmpegSource, type FfmpegSourceOptions } from '../sources/ffmpeg-source.js';
import type { FfmpegExit } from '../sources/ffmpeg-process.js';
import { PermanentSourceError } from '../sources/source-errors.js';
import type { SourceExit, SourceFrame } from '../sources/source.js';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { PlaybackChange, PlaybackState } from '../wire/playback.js';

export interface PlaybackSourceOptions extends FfmpegSourceOptions {
  readonly recordingId: string;
  /** The recording's MP4 (fragmented: it plays while it is still being written). */
  readonly file: string;
  /** Whether the recording is still being written; asked each time, as it may end while played. */
  readonly isRecording: () => boolean;
  /** @default 'ffprobe' */
  readonly probeCommand?: string;
}

/** What the ffmpeg now running was started to do: play from a position, or show one frame. */
type Mode = 'play' | 'still';

/** Three decimals: what the wire carries, and what ffmpeg's `-ss` is given. */
const round3 = (n: number) => Math.round(n * 1000) / 1000;

/**
 * A recording played back as a stream's source: one ffmpeg reading the recording's MP4 from a
 * position (`-ss`), paced at the playback speed (`-readrate`, ffmpeg ≥ 5; Debian 12 has 5.1),
 * its timestamps scaled by `setpts` so the output's constant `-r` rate holds at any speed.
 *
 * The position is counted, not asked: output frames come at exactly `fps` per second of output
 * time (`-r` duplicates or drops to hold it), and each is `speed / fps` seconds of the recording,
 * so position = where this ffmpeg started + frames × speed / fps. Every change (seek, speed,
 * pause, play) rebases that count on the position now and replaces the ffmpeg; paused, one
 * ffmpeg draws the single frame at the position (`-frames:v 1`) and exits, so a scrub while
 * paused shows the picture there. Changes while a replacement is under way fold into one more
 * replacement (latest wins): however fast seeks come, one ffmpeg runs and one is being stopped.
 *
 * The end of the file (ffmpeg exits 0 while playing) is not an error: playback pauses on the
 * last frame and says so. A recording still being written ends where its writer is.
 */
export class PlaybackSource extends FfmpegSource {
  readonly kind = 'playback';
  readonly recordingId: string;
  readonly #file: string;
  readonly #isRecording: () => boolean;
  readonly #probeCommand: string;
  /** Recording seconds where the counted frames start. */
  #origin = 0;
  /** Frames of the current ffmpeg since `#origin`. */
  #frames = 0;
  #speed = 1;
  #paused = false;
  #ended = false;
  #mode: Mode = 'play';
  /** A change was made that the running ffmpeg does not show yet: its frames do not count. */
  #stale = false;
  /** The duration ffprobe read last, and when: a recording being written grows at wall-clock pace after that. */
  #probed = { duration: 0, at: 0, growing: false };
  /** The ffprobe under way: callers share it, so requests cannot pile up probes. */
  #probing: Promise<void> | undefined;
  #replacing: Promise<void> | undefined;
  #replaceAgain = false;

  constructor(options: PlaybackSourceOptions) {
    super(options);
    this.recordingId = options.recordingId;
    this.#file = options.file;
    this.#isRecording = options.isRecording;
    this.#probeCommand = options.probeCommand ?? 'ffprobe';
    this.on('frame', this.#sourceOnOwnFrame);
  }

  /** Seconds from the recording's start shown now. */
  get position(): number {
    if (this.#paused || this.#mode === 'still' || this.#stale) return this.#origin;
    return this.#origin + (this.#frames * this.#speed) / this.fps;
  }

  /** Seconds recorded: as probed, plus the time since for a recording still being written. */
  get duration(): number {
    const growing = this.#isRecording() && this.#probed.at > 0 ? (Date.now() - this.#probed.at) / 1000 : 0;
    return Math.max(this.#probed.duration + growing, this.position);
  }

  get state(): PlaybackState {
    const duration = this.duration;
    return {
      recording_id: this.recordingId,
      position: round3(Math.min(this.position, duration)),
      duration: round3(duration),
      speed: this.#speed,
      paused: this.#paused,
      ended: this.#ended,
      recording: this.#isRecording(),
    };
  }

  /**
   * Reads the recording's duration again where it may have changed (never read, or a recording
   * being written, or one that was being written when last read); resolves with the state.
   */
  async refresh(): Promise<PlaybackState> {
    if (this.#probed.at === 0 || this.#probed.growing || this.#isRecording()) await this.#probe().catch(() => undefined);
    return this.state;
  }

  /**
   * Applies one command: speed, then seek, then pause or play. A seek past the end is refused
   * (`invalid_options`) and changes nothing; `play` at the end of a finished recording starts
   * again from its start. Returns the state after the change, and whether anything changed:
   * when it did, every viewer is told (a status notice).
   */
  apply(change: PlaybackChange): { state: PlaybackState; changed: boolean } {
    // Not read yet (a command racing the first start): the seek is let through, and one past the end ends there.
    if (change.seek !== undefined && this.#probed.at > 0 && change.seek > this.duration + 0.001) {
      throw new FramehubError(ErrorCode.InvalidOptions, `seek ${change.seek} is past the end of recording ${this.recordingId} (${round3(this.duration)} s)`);
    }
    const words: string[] = [];
    this.#rebase();
    let replace = false;
    if (change.speed !== undefined && change.speed !== this.#speed) {
      this.#speed = change.speed;
      words.push(`speed ${change.speed}×`);
      replace ||= !this.#paused;
    }
    if (change.seek !== undefined) {
      this.#origin = change.seek;
      this.#ended = false;
      words.push(`sought to ${round3(change.seek)} s`);
      replace = true;
    }
    if (change.paused === true && !this.#paused) {
      this.#paused = true;
      words.push('paused');
      replace = true;
    } else if (change.paused === false && this.#paused) {
      this.#paused = false;
      // At the end of a finished recording, play means from the start; one still being written goes on from here.
      if (this.#ended && !this.#isRecording()) this.#origin = 0;
      this.#ended = false;
      words.push('playing');
      replace = true;
    }
    if (replace) {
      this.#stale = true;
      this.#replace();
    }
    const state = this.state;
    if (words.length > 0) this.#announce(`playback: ${words.join(', ')}`, state);
    return { state, changed: words.length > 0 };
  }

  /** Ends the stream for good with `reason` (the recording was deleted). */
  async end(reason: string): Promise<void> {
    await this.fail({ error: new Error(reason), restartable: false });
  }

  override async start(): Promise<void> {
    const wasRunning = this.running;
    await super.start();
    // The first viewer (and the first after an idle stop) learns where the playback is without asking.
    if (!wasRunning && this.running) {
      const state = this.state;
      this.#announce(`playback: ${state.paused ? 'paused' : 'playing'} at ${state.position} s of ${state.duration} s`, state);
    }
  }

  override async stop(): Promise<void> {
    // Without viewers the playback holds its place: the next one goes on from here.
    this.#rebase();
    await super.stop();
  }

  protected async inputArgs(): Promise<string[]> {
    try {
      await access(this.#file);
    } catch {
      throw new PermanentSourceError(`recording ${this.recordingId} has no file`);
    }
    await this.refresh();
    // Read after the last await: whichever start or replacement spawns, it spawns what was asked last.
    this.#rebase();
    this.#stale = false;
    const duration = this.duration;
    if (this.#paused || this.#ended) {
      this.#mode = 'still';
      // The last frame sits just before the end; a seek to the very end shows it.
      const at = Math.max(0, Math.min(this.#origin, duration - 0.2));
      return ['-ss', at.toFixed(3), '-i', this.#file, '-frames:v', '1'];
    }
    this.#mode = 'play';
    return ['-ss', this.#origin.toFixed(3), '-readrate', String(this.#speed), '-i', this.#file];
  }

  protected override videoFilter(): string | undefined {
    // Timestamps divided by the speed: `-r` then holds the output rate at 0.25× (frames repeated) and 8× (frames dropped).
    const speed = `setpts=(PTS-STARTPTS)/${this.#speed}`;
    const scale = super.videoFilter();
    return scale ? `${speed},${scale}` : speed;
  }

  protected override async classifyExit(exit: FfmpegExit): Promise<SourceExit | undefined> {
    if (exit.code === 0 && !exit.signal) {
      // A change is on its way to a new ffmpeg; this one's end means nothing.
      if (this.#stale || this.#mode === 'still') return undefined;
      this.#rebase();
      this.#paused = true;
      this.#ended = true;
      this.#announce(`playback: reached the end of recording ${this.recordingId}; paused on the last frame`, this.state);
      return undefined;
    }
    return super.classifyExit(exit);
  }

  readonly #sourceOnOwnFrame = (_frame: SourceFrame): void => {
    if (!this.#stale) this.#frames++;
  };

  /** Moves the counted frames into the origin: the position stays, the count restarts. */
  #rebase(): void {
    this.#origin = this.position;
    this.#frames = 0;
  }

  /** Replaces the running ffmpeg; one replacement at a time, and one more for whatever changed meanwhile. */
  #replace(): void {
    if (this.#replacing) {
      this.#replaceAgain = true;
      return;
    }
    this.#replacing = (async () => {
      do {
        this.#replaceAgain = false;
        await this.respawn();
      } while (this.#replaceAgain);
    })().catch((error: unknown) => this.options.log?.debug({ err: error, recording: this.recordingId }, 'playback: replacing ffmpeg failed'))
      .finally(() => (this.#replacing = undefined));
  }

  #probe(): Promise<void> {
    this.#probing ??= this.#runProbe().finally(() => (this.#probing = undefined));
    return this.#probing;
  }

  #runProbe(): Promise<void> {
    const growing = this.#isRecording();
    return new Promise((resolve, reject) => {
      execFile(this.#probeCommand, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', this.#file], { timeout: 10_000 }, (error, stdout) => {
        const duration = Number(String(stdout).trim());
        if (error || !Number.isFinite(duration)) return reject(error ?? new Error(`ffprobe gave no duration for recording ${this.recordingId}`));
        this.#probed = { duration, at: Date.now(), growing };
        resolve();
      });
    });
  }

  #announce(message: string, state: PlaybackState): void {
    this.emit('status', { message, detail: { playback: state } });
  }
}
