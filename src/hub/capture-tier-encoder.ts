import type { CaptureOutput } from '../sources/source.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { AccessUnit } from './access-unit.js';
import { accessUnitOf, x264OutputArgs, type H264EncoderEvents } from './h264-encoder.js';
import { PacketSplitter } from './packet-splitter.js';
import type { VideoTierSpec } from './video-tier-spec.js';
import { tierSize } from './video-tier-spec.js';

/** Pictures remembered for units still to come, and units waiting for their picture. */
const MAX_PICTURES = 64;
const MAX_PENDING_UNITS = 30;

interface Picture {
  readonly capturedAt: number;
  readonly seq: number;
  readonly width: number;
  readonly height: number;
}

/**
 * One tier encoded by the source's own capture process, as an extra output (the same x264
 * arguments as H264Encoder): no JPEG decoded in Node, no second process, and the encoder codes
 * the captured pixels rather than the JPEG's. Output picture n is the source's frame n, so each
 * unit carries that frame's capture time and seq; a unit out before its frame waits for it.
 * Emits H264Encoder's events; its `exit` only for `stop()`: the capture process's deaths are
 * the source's, and its restart starts the output again.
 */
export class CaptureTierEncoder extends TypedEmitter<H264EncoderEvents> {
  readonly #remove: () => void;
  #splitter!: PacketSplitter;
  /** Index of the next unit out of the current process. */
  #next = 0;
  readonly #pictures = new Map<number, Picture>();
  #pending: { index: number; packet: Buffer }[] = [];
  #codec = '';
  #stopped = false;
  /** The current process's output could not be parsed: ignored until the next start. */
  #broken = false;

  constructor(
    /** The source's `addOutput`. */
    addOutput: (output: CaptureOutput) => () => void,
    readonly spec: VideoTierSpec,
    fps: number,
    /** The seq of the frame the source emitted last. */
    private readonly latestSeq: () => number,
  ) {
    super();
    const h = spec.maxHeight;
    // tierSize in ffmpeg's words: fitted into the tier's height, never enlarged, both sides even.
    const fit = `min(1\\,${h}/ih)`;
    const output: CaptureOutput = {
      filter: `scale=w=trunc(iw*${fit}/2)*2:h=trunc(ih*${fit}/2)*2`,
      args: x264OutputArgs(spec.bitrate, fps),
      started: () => this.#reset(),
      data: (chunk) => {
        if (this.#broken) return;
        try {
          this.#splitter.push(chunk);
        } catch {
          // Not mpjpeg framing: this process's units are lost; the next start begins afresh.
          this.#broken = true;
        }
      },
      picture: (index, capturedAt, width, height) => this.#onPicture(index, { capturedAt, seq: this.latestSeq(), width, height }),
    };
    this.#reset();
    this.#remove = addOutput(output);
  }

  /** Drops the output (the capture process restarts without it, if it runs). Safe twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#remove();
    this.emit('exit', { error: undefined });
  }

  #reset(): void {
    this.#splitter = new PacketSplitter((packet) => this.#onPacket(packet));
    this.#next = 0;
    this.#broken = false;
    this.#pictures.clear();
    this.#pending = [];
  }

  #onPacket(packet: Buffer): void {
    const index = this.#next++;
    if (this.#pictures.has(index)) return this.#emit(index, packet);
    this.#pending.push({ index, packet });
    // Frames that never come (ffmpeg broken): the unit is late anyway; keep the newest.
    if (this.#pending.length > MAX_PENDING_UNITS) this.#pending.shift();
  }

  #onPicture(index: number, picture: Picture): void {
    this.#pictures.set(index, picture);
    this.#pictures.delete(index - MAX_PICTURES);
    while (this.#pending.length > 0 && this.#pending[0]!.index <= index) {
      const { index: unitIndex, packet } = this.#pending.shift()!;
      this.#emit(unitIndex, packet, picture);
    }
  }

  #emit(index: number, packet: Buffer, fallback?: Picture): void {
    const picture = this.#pictures.get(index) ?? fallback!;
    const size = tierSize(picture.width, picture.height, this.spec);
    const unit: AccessUnit = accessUnitOf(packet, this.#codec, picture.capturedAt, picture.seq, size.width, size.height);
    this.#codec = unit.codec;
    if (!this.#stopped) this.emit('unit', unit);
  }
}
