import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { TypedEmitter } from '../util/typed-emitter.js';
import { AccessUnit } from './access-unit.js';
import { NalType, avcConfig, codecString, nalType, splitNals, toLengthPrefixed } from './h264-bitstream.js';
import { PacketSplitter } from './packet-splitter.js';

export interface H264EncoderOptions {
  /** Size of the pictures written to it (raw RGB, 3 bytes a pixel); even numbers. */
  readonly width: number;
  readonly height: number;
  /** Highest frame rate expected; rate control follows the frames' real timestamps. */
  readonly fps: number;
  /** Maximum bitrate, bits per second (the VBV ceiling over a constant quality). */
  readonly bitrate: number;
  /** @default 'ffmpeg' */
  readonly command?: string;
}

export interface H264EncoderEvents {
  unit: AccessUnit;
  /** The process ended; `error` unless `stop()` asked for it. */
  exit: { error: Error | undefined };
}

/**
 * The encoder and muxer arguments of one H.264 tier, up to the output url: every tier is encoded
 * with these, by an H264Encoder or as an output of a capture process (capture-tier-encoder.ts).
 */
export function x264OutputArgs(bitrate: number, fps: number): string[] {
  return [
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    // No B-frames (zerolatency sets none), so every picture comes out as soon as it goes in.
    // Main profile for CABAC, which ultrafast leaves off: the same pictures (same CRF, same
    // SSIM) in 13-33 % fewer bytes below the tier's ceiling (25 % on screen-like content), at
    // no measurable CPU (docs/video.md#measured). Every WebCodecs decoder takes Main.
    '-profile:v', 'main', '-x264-params', 'cabac=1:bframes=0', '-pix_fmt', 'yuv420p',
    // Capped CRF: constant quality, so still or simple content costs few bits, with the
    // tier's bitrate as the ceiling; a VBV of half a second bounds how far one picture can
    // overshoot it.
    '-crf', '23', '-maxrate', String(bitrate), '-bufsize', String(Math.round(bitrate / 2)),
    // A keyframe every 2 s of real time (a joining or resyncing viewer waits at most that long
    // when the tier has no run to start it from); -g only bounds it in frames.
    '-force_key_frames', 'expr:gte(t,n_forced*2)', '-g', String(Math.max(1, Math.round(fps * 2))),
    '-fps_mode', 'passthrough', '-enc_time_base', '1/1000', '-flush_packets', '1',
    '-f', 'mpjpeg',
  ];
}

/**
 * One libx264 process (through ffmpeg) for one (stream, tier): raw RGB pictures in, one access
 * unit out per picture. Raw input rather than JPEG: ffmpeg's JPEG demuxers hold each picture
 * until the next one starts (measured: ~72 ms from write to output at 30 fps with JPEG input,
 * ~5 ms with raw).
 */
export class H264Encoder extends TypedEmitter<H264EncoderEvents> {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  /** Capture time and seq of each picture written and not yet out, oldest first. */
  readonly #waiting: { capturedAt: number; seq: number }[] = [];
  #codec = '';
  #stopping = false;
  #exited = false;
  readonly #exit: Promise<void>;
  #stderrTail = '';

  constructor(readonly options: H264EncoderOptions) {
    super();
    const { width, height, fps, bitrate } = options;
    const args = [
      '-hide_banner', '-loglevel', 'error',
      // Timestamps from the wall clock: the rate control and the keyframe schedule follow the
      // frames' real pace, whatever the source's rate.
      '-use_wallclock_as_timestamps', '1',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', String(fps), '-i', 'pipe:0',
      '-an', ...x264OutputArgs(bitrate, fps), 'pipe:1',
    ];
    this.#child = spawn(options.command ?? 'ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const splitter = new PacketSplitter((packet) => this.#onPacket(packet));
    this.#child.stdin.on('error', () => {}); // EPIPE when ffmpeg ends first: the exit reports it.
    this.#child.stdout.on('data', (chunk: Buffer) => {
      try {
        splitter.push(chunk);
      } catch (error) {
        this.#fail(error as Error);
      }
    });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderrTail = (this.#stderrTail + chunk.toString()).slice(-500);
    });
    this.#exit = new Promise((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
        if (this.#exited) return;
        this.#exited = true;
        resolve();
        const error = this.#stopping ? undefined
          : spawnError ?? new Error(`h264 encoder exited (${signal ?? code}): ${this.#stderrTail.trim().split('\n').slice(-2).join(' | ')}`);
        this.emit('exit', { error });
      };
      this.#child.on('error', (error) => onExit(null, null, error));
      this.#child.on('close', (code, signal) => onExit(code, signal));
    });
  }

  /** Pictures written whose unit has not come out yet. */
  get backlog(): number {
    return this.#waiting.length;
  }

  /**
   * Writes one picture (`width` × `height` × 3 bytes of RGB); `done` runs when the pipe took it,
   * so a caller that waits for it never queues more than one picture in Node.
   */
  encode(rgb: Buffer, capturedAt: number, seq: number, done: (error: Error | undefined) => void): void {
    if (this.#exited || this.#stopping) return done(new Error('h264 encoder is not running'));
    if (rgb.length !== this.options.width * this.options.height * 3) return done(new RangeError('picture size does not match the encoder'));
    this.#waiting.push({ capturedAt, seq });
    this.#child.stdin.write(rgb, (error) => done(error ?? undefined));
  }

  /** Ends the process (SIGTERM, then SIGKILL after 2 s). Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      this.#stopping = true;
      this.#child.stdin.destroy();
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
      timer.unref();
      await this.#exit;
      clearTimeout(timer);
    }
  }

  #onPacket(packet: Buffer): void {
    // One unit per picture, in order (no B-frames, no frame dropping): the oldest waiting
    // picture is the one this unit encodes.
    const source = this.#waiting.shift() ?? { capturedAt: Date.now(), seq: 0 };
    const unit = accessUnitOf(packet, this.#codec, source.capturedAt, source.seq, this.options.width, this.options.height);
    this.#codec = unit.codec;
    this.emit('unit', unit);
  }

  #fail(error: Error): void {
    this.#stderrTail += ` ${error.message}`;
    this.#child.kill('SIGKILL');
  }
}

/**
 * The access unit in one of libx264's packets (Annex B). `codec` is the codec string so far: a
 * unit without an SPS keeps it.
 */
export function accessUnitOf(packet: Buffer, codec: string, capturedAt: number, seq: number, width: number, height: number): AccessUnit {
  const nals = splitNals(packet);
  let sps: Buffer | undefined;
  let pps: Buffer | undefined;
  let keyframe = false;
  for (const nal of nals) {
    const type = nalType(nal);
    if (type === NalType.Sps) sps = nal;
    else if (type === NalType.Pps) pps = nal;
    else if (type === NalType.Idr) keyframe = true;
  }
  const config = keyframe && sps && pps ? avcConfig(sps, pps) : undefined;
  // A keyframe without its parameter sets could not start a decoder: send it as a delta.
  return new AccessUnit(toLengthPrefixed(nals), keyframe && config !== undefined, capturedAt, seq,
    width, height, sps ? codecString(sps) : codec, config);
}
