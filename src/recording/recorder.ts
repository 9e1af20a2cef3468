import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { AccessUnit } from '../hub/access-unit.js';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import type { VideoSink } from '../hub/video-slot.js';
import type { VideoSubscription, VideoTier } from '../hub/video-tier.js';
import { FLV_HEADER, FlvWriter } from './flv.js';
import { toError } from '../util/errors.js';

/** What a recorder reports to its owner's log. */
export interface RecorderLog {
  warn(details: object, message: string): void;
  debug(details: object, message: string): void;
}

export interface RecorderOptions {
  /** The MP4 file to write (created, or replaced). */
  readonly file: string;
  readonly log: RecorderLog;
  /** @default 'ffmpeg' */
  readonly command?: string;
  /** How long `stop()` waits for ffmpeg to finish the file after its input ended, before SIGTERM, then as long again before SIGKILL. @default 5000 */
  readonly finishMs?: number;
  /** ffmpeg went away without `stop()` (it crashed, or could not start). */
  readonly onFailure?: (error: Error) => void;
}

/** What the recorder has seen: units written to ffmpeg, units the slot dropped, times it fell behind. */
export interface RecorderCounters {
  units: number;
  bytes: number;
  dropped: number;
  resyncs: number;
}

/**
 * Fragmented MP4 written as it goes: the `moov` up front (empty_moov) and a fragment per
 * keyframe, so a file cut short by a crash or a kill still plays up to its last fragment.
 * The units come in as FLV (flv.ts), each tagged with its capture time, so the file's times are
 * the pictures' own, also for units written in a burst (a pre-record buffer, a catch-up).
 * `-flush_packets 1`: each fragment reaches the file when it is done, not when ffmpeg's 32 KiB
 * output buffer fills (minutes for a still picture), so a playback of a recording under way
 * finds its `moov` and every whole fragment so far.
 */
function ffmpegArgs(file: string): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'flv', '-i', 'pipe:0',
    '-c', 'copy', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-flush_packets', '1',
    '-f', 'mp4', '-y', file,
  ];
}

/**
 * One recording in progress: one more consumer of a video tier (a VideoSink, like a viewer's
 * socket) piping the tier's units as FLV into one ffmpeg that copies them into an MP4.
 *
 * It never holds up the live path: the tier hands it units through its own VideoSlot, which
 * queues at most MAX_WAITING_UNITS behind a write in flight; when ffmpeg (or the disk under
 * it) is slower than that, the slot drops units until the next keyframe, and the recorder
 * counts and logs each time that happens. A write in flight ends when the pipe has taken the
 * bytes, so a stalled disk stalls only this slot.
 */
export class Recorder implements VideoSink {
  readonly #child: ChildProcessByStdio<Writable, null, Readable>;
  readonly #exited: Promise<void>;
  #subscription: VideoSubscription | undefined;
  #stopping = false;
  #stderrTail = '';
  #units = 0;
  #bytes = 0;
  /** Set while the tier's units may repeat the pre-record buffer's: the last one written from it. */
  #afterSeq: number | undefined;
  /** Each recording's own times: they start at its first unit. */
  readonly #flv = new FlvWriter();

  constructor(private readonly options: RecorderOptions) {
    this.#child = spawn(options.command ?? 'ffmpeg', ffmpegArgs(options.file), { stdio: ['pipe', 'ignore', 'pipe'] });
    // EPIPE when ffmpeg died with a write under way: the exit below reports it; the write's own callback fails the delivery.
    this.#child.stdin.on('error', (error) => options.log.debug({ err: error, file: options.file }, 'recorder input closed'));
    this.#child.stdin.write(FLV_HEADER);
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (text: string) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-2000);
    });
    this.#child.stderr.on('error', () => {}); // the pipe closes with the process; nothing to add
    this.#exited = new Promise((resolve) => {
      let done = false;
      const finish = (why: string | undefined) => {
        if (done) return;
        done = true;
        this.#subscription?.close();
        this.#subscription = undefined;
        if (why !== undefined && !this.#stopping) {
          try {
            options.onFailure?.(new Error(`recording ffmpeg ${why}${this.#stderrTail ? `: ${this.#stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
          } catch (error) {
            options.log.warn({ err: error }, 'recording failure handler failed');
          }
        }
        resolve();
      };
      this.#child.once('error', (error) => {
        // Spawning failed (ENOENT...): no process, so no 'close' to wait for.
        if (this.#child.pid === undefined) finish(`could not be started (${error.message})`);
        else options.log.debug({ err: error }, 'recording ffmpeg');
      });
      this.#child.once('close', (code, signal) => finish(code === 0 && !signal ? (this.#stopping ? undefined : 'exited') : signal ? `was killed (${signal})` : `exited with code ${code}`));
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get counters(): RecorderCounters {
    const slot = this.#subscription?.slot.counters;
    return { units: this.#units, bytes: this.#bytes, dropped: slot?.dropped ?? 0, resyncs: slot?.resyncs ?? 0 };
  }

  /**
   * Attaches to `tier` as one more of its consumers; it starts at the tier's current GOP (a
   * keyframe first), or with `before` (a pre-record buffer's pictures, from a keyframe) and then
   * the tier's units that come after them.
   */
  attach(tier: VideoTier, before: readonly AccessUnit[] = []): void {
    if (this.#stopping || this.#subscription) return;
    if (before.length > 0) {
      this.#afterSeq = before.at(-1)!.seq;
      this.#write(before, (error) => {
        if (error) this.options.log.debug({ err: error, file: this.options.file }, 'recording the pre-record buffer failed');
      });
    }
    this.#subscription = tier.subscribe(this, (error) => this.options.log.debug({ err: error, file: this.options.file }, 'recording write failed'));
  }

  deliver(units: readonly AccessUnit[], done: DeliveryDone): void {
    // The tier's run since its last keyframe overlaps the pre-record buffer written first.
    const fresh = this.#afterSeq === undefined ? units : units.filter((unit) => unit.seq > this.#afterSeq!);
    if (fresh.length === 0) return done(undefined, 0);
    this.#afterSeq = undefined;
    this.#write(fresh, done);
  }

  #write(units: readonly AccessUnit[], done: DeliveryDone): void {
    const stdin = this.#child.stdin;
    if (this.#stopping || !stdin.writable) return done(new Error('recorder input closed'), 0);
    const chunk = Buffer.concat(units.flatMap((unit) => this.#flv.tags(unit)));
    this.#units += units.length;
    try {
      stdin.write(chunk, (error) => {
        if (!error) this.#bytes += chunk.length;
        done(error ?? undefined, error ? 0 : chunk.length);
      });
    } catch (error) {
      done(toError(error), 0);
    }
  }

  /** A slow writer's drops are the recording's gaps: said once each time it falls behind. */
  behind(dropped: number): void {
    const counters = this.#subscription?.slot.counters;
    this.options.log.warn({ file: this.options.file, dropped, droppedTotal: counters?.dropped, resyncs: counters?.resyncs }, 'recording fell behind: units dropped until the next keyframe (live viewers unaffected)');
  }

  /**
   * Leaves the tier, ends ffmpeg's input so it writes its last fragment and exits, and resolves
   * when it has; one that does not finish in time is sent SIGTERM, then SIGKILL (the fragments
   * written so far still play). Safe to call twice.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#subscription?.close();
    this.#subscription = undefined;
    const finishMs = this.options.finishMs ?? 5000;
    this.#child.stdin.end();
    const timers: ReturnType<typeof setTimeout>[] = [
      setTimeout(() => this.#signal('SIGTERM'), finishMs),
      setTimeout(() => this.#signal('SIGKILL'), 2 * finishMs),
    ];
    try {
      await this.#exited;
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined) this.#child.kill(signal);
  }
}
