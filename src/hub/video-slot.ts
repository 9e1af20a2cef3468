import type { AccessUnit } from './access-unit.js';
import type { DeliveryDone } from './subscriber-slot.js';
import { toError } from '../util/errors.js';

/**
 * A viewer's transport for a video tier: writes the units in order (one message each) and calls
 * `done` once, when the transport has taken the last of them or a write failed.
 */
export interface VideoSink {
  deliver(units: readonly AccessUnit[], done: DeliveryDone): void;
  /**
   * The slot just dropped `dropped` units because this consumer fell behind, and waits for the
   * next keyframe. Told at once, since a consumer stalled in a write hears nothing else (a
   * recorder logs its gap here). Must not throw; what it throws is ignored.
   */
  behind?(dropped: number): void;
}

export interface VideoSlotCounters {
  /** Units fully written. */
  sent: number;
  /** Units never written: the viewer was behind, or waiting for a keyframe. */
  dropped: number;
  bytes: number;
  failed: number;
  /** Times the viewer fell behind and was set to wait for the next keyframe. */
  resyncs: number;
}

/**
 * Units that may wait behind a write in flight before the viewer counts as behind: about a
 * second at 30 fps, enough to ride out a slow write without holding a stalled viewer's backlog.
 */
export const MAX_WAITING_UNITS = 30;

/**
 * Latest frame wins, for a codec whose pictures refer to earlier ones. A viewer cannot skip a
 * unit and decode the next, so instead of keeping only the newest unit the slot keeps the units
 * that arrived while a write was in flight and sends them together when it completes; when more
 * than MAX_WAITING_UNITS pile up the viewer is behind: they are dropped and the slot waits for
 * the next keyframe, where the viewer's decoder can start over. Nothing here waits on another
 * viewer, and a stalled viewer holds at most one write and MAX_WAITING_UNITS units.
 */
export class VideoSlot {
  #sent = 0;
  #dropped = 0;
  #bytes = 0;
  #failed = 0;
  #resyncs = 0;
  #waiting: AccessUnit[] = [];
  #inFlight = false;
  /** Units before the next keyframe are useless to this viewer: it joined, or fell behind. */
  #needKeyframe = true;
  #closed = false;

  constructor(
    private readonly sink: VideoSink,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  get counters(): VideoSlotCounters {
    return { sent: this.#sent, dropped: this.#dropped, bytes: this.#bytes, failed: this.#failed, resyncs: this.#resyncs };
  }

  get waitingForKeyframe(): boolean {
    return this.#needKeyframe;
  }

  /**
   * Starts a joining viewer with the units since the last keyframe (`gop[0]` a keyframe), so
   * it decodes a picture now instead of at the next keyframe. An empty or headless GOP leaves
   * it waiting for the next keyframe.
   */
  join(gop: readonly AccessUnit[]): void {
    if (this.#closed || gop.length === 0 || !gop[0]!.keyframe) return;
    this.#needKeyframe = false;
    this.#waiting = [...gop];
    this.#pump();
  }

  offer(unit: AccessUnit): void {
    if (this.#closed) return;
    if (this.#needKeyframe) {
      if (!unit.keyframe) {
        this.#dropped++;
        return;
      }
      this.#needKeyframe = false;
    }
    if (this.#waiting.length >= MAX_WAITING_UNITS && !unit.keyframe) {
      const dropped = this.#waiting.length + 1;
      this.#dropped += dropped;
      this.#waiting = [];
      this.#needKeyframe = true;
      this.#resyncs++;
      this.#tellBehind(dropped);
      return;
    }
    // A keyframe makes what waits before it unnecessary: the decoder starts over there.
    if (unit.keyframe && this.#waiting.length > 0) {
      this.#dropped += this.#waiting.length;
      this.#waiting = [];
    }
    this.#waiting.push(unit);
    this.#pump();
  }

  #tellBehind(dropped: number): void {
    try {
      this.sink.behind?.(dropped);
    } catch {
      // A consumer's report failing is no reason to stop feeding it or anyone else.
    }
  }

  close(): void {
    this.#closed = true;
    this.#waiting = [];
  }

  #pump(): void {
    if (this.#closed || this.#inFlight || this.#waiting.length === 0) return;
    const units = this.#waiting;
    this.#waiting = [];
    this.#inFlight = true;
    this.#unitsInFlight = units.length;
    try {
      this.sink.deliver(units, this.#done);
    } catch (error) {
      this.#done(toError(error), 0);
    }
  }

  #unitsInFlight = 0;

  readonly #done: DeliveryDone = (error, bytes) => {
    if (!this.#inFlight) return;
    this.#inFlight = false;
    if (error) {
      this.#failed++;
      this.#dropped += this.#unitsInFlight;
      // What follows a unit the viewer did not get cannot be decoded.
      this.#needKeyframe = true;
      this.#waiting = [];
      this.onError(error);
    } else {
      this.#sent += this.#unitsInFlight;
      this.#bytes += bytes;
    }
    this.#pump();
  };
}
