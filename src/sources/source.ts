import type { Frame } from './frame.js';
import { FULL_DEMAND, type Demand, type FrameRequest } from './demand.js';
import { TypedEmitter } from '../util/typed-emitter.js';

/** What a source emits; the stream numbers the frames. */
export type SourceFrame = Omit<Frame, 'seq'>;

export interface SourceExit {
  /** Why the source stopped on its own. */
  error: Error;
  /** `true` when starting again may help (a crashed process); `false` when the thing it captured is gone. */
  restartable: boolean;
}

/** A status with facts a client can read besides the words (a playback's position, speed, …). */
export interface SourceStatus {
  message: string;
  /** Merged into the status message on the wire (`{"type":"status","data":{message, ...detail}}`). */
  detail: Readonly<Record<string, unknown>>;
}

export interface SourceEvents {
  frame: SourceFrame;
  /** Human-readable progress, e.g. "restarting ffmpeg"; with facts for clients where it has them. */
  status: string | SourceStatus;
  /** The source stopped without being asked to. */
  exit: SourceExit;
}

/**
 * An extra encoded output of a source's own capture process: the same pictures as its frames,
 * encoded another way in the same process (hub/capture-tier-encoder.ts makes H.264 tiers of it).
 */
export interface CaptureOutput {
  /** ffmpeg filters applied to the source's pictures for this output only (e.g. a `scale`), or ''. */
  readonly filter: string;
  /** Encoder and muxer arguments, up to the output url (the source adds its pipe). */
  readonly args: readonly string[];
  /** A capture process with this output started: its bytes and picture numbers start afresh. */
  started(): void;
  /** Bytes the output wrote. */
  data(chunk: Buffer): void;
  /** Picture `index` (0 from each start) was just emitted as a frame, with this capture time and size. */
  picture(index: number, capturedAt: number, width: number, height: number): void;
}

/**
 * Produces encoded frames. `start()` and `stop()` are idempotent; the stream calls `start()`
 * when the first subscriber arrives and `stop()` after the idle grace period.
 */
export abstract class Source extends TypedEmitter<SourceEvents> {
  abstract readonly kind: string;
  #demand: Demand = FULL_DEMAND;
  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  /** What the readers of this source's frames need now: every reader there could be until a stream gives its own. */
  get demand(): Demand {
    return this.#demand;
  }

  /** The stream that owns the source hands it its readers' demand (demand.ts), once, before the first start. */
  useDemand(demand: Demand): void {
    this.#demand = demand;
  }

  /**
   * Whether `frame` gives a reader what `request` asks: a reader that asked for more (a
   * screenshot wanting pixels or full size) waits for a frame that does. A source that always
   * sends everything it can: yes.
   */
  serves(frame: Frame, request: FrameRequest): boolean {
    void frame;
    void request;
    return true;
  }

  /**
   * Sources with a capture process of their own (ffmpeg) encode extra outputs in it: this adds
   * one (the process restarts to take it) and returns what removes it (another restart).
   */
  addOutput?(output: CaptureOutput): () => void;
}
