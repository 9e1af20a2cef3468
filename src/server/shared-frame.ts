import { frameLength, writeFrame, wsFrame } from './ws-frame.js';

/**
 * One whole WebSocket frame (ws-frame.ts) shared by every client's write of one variant, in
 * memory that goes back to a small pool once nothing can write it any more: the variant let
 * go of it (`retire`, when the variant cache evicts the frame) and no write holds it
 * (`hold`/`release`, around every write that the kernel did not take at once).
 *
 * Why: a live stream makes a new frame every ~33 ms, and without reuse each one leaves a dead
 * buffer of its size outside V8's heap. V8 counts such memory against the old generation's
 * headroom and starts full collections for it (docs/benchmarks.md, changes 13 and 14); reused
 * memory counts once. The source's own buffer per frame is the only one left.
 */
export class SharedFrame {
  #holds = 0;
  #retired = false;
  #returned = false;

  constructor(
    /** The frame's bytes: what is written to each socket. */
    readonly bytes: Buffer,
    /** The pooled memory `bytes` lies in, or `undefined` when it is not the pool's. */
    private readonly memory?: Buffer,
    private readonly pool?: FramePool,
  ) {}

  /** A write will use the bytes: they stay this frame's until the matching `release`. */
  hold(): void {
    this.#holds++;
  }

  release(): void {
    this.#holds--;
    this.#giveBack();
  }

  /** No new write will take this frame; its memory returns once the last hold is released. */
  retire(): void {
    this.#retired = true;
    this.#giveBack();
  }

  /** Returned to the pool: test hook. */
  get returned(): boolean {
    return this.#returned;
  }

  #giveBack(): void {
    // Once only: memory put back twice would be handed to two frames at once.
    if (!this.#retired || this.#holds > 0 || this.#returned) return;
    this.#returned = true;
    if (this.memory !== undefined) this.pool?.put(this.memory);
  }
}

/** Frames smaller than this are not pooled: they cost the heap little, and a pool slot as much. */
const MIN_POOLED = 16 * 1024;
/** Nor larger ones: a few of them kept idle would be a lot of memory. */
const MAX_POOLED = 4 * 1024 * 1024;
/**
 * Free buffers kept, and their bytes at most. A stream's variant has three or four frames in
 * circulation (the variant cache keeps three) and needs a free one when the next frame comes;
 * the byte bound is what an idle server keeps after its streams stopped.
 */
const MAX_FREE = 4;
const MAX_FREE_BYTES = 8 * 1024 * 1024;
/**
 * New memory is this much larger than the frame (3 %, then whole KiB: under 5 % in all for a
 * frame of 64 KiB), so the next frames of a stream, a little larger or smaller, fit. Little,
 * because a client that stopped reading holds the whole buffer (docs/benchmarks.md, change 15).
 */
const SLACK = 1 / 32;

/**
 * Free memory for frames: a few buffers, handed out to frames of up to their size. Bounded in
 * count and bytes; a frame that finds nothing large enough gets new memory, rounded up so that
 * the next, slightly larger frame of the same stream still fits.
 */
export class FramePool {
  readonly #free: Buffer[] = [];
  #freeBytes = 0;

  /** The whole frame for `payload`, in pooled memory when it is large enough to be worth it. */
  frame(payload: Buffer | string, binary: boolean): SharedFrame {
    const length = frameLength(payload);
    if (length < MIN_POOLED || length > MAX_POOLED) return new SharedFrame(wsFrame(payload, binary));
    const memory = this.#take(length);
    const bytes = memory.subarray(0, length);
    writeFrame(bytes, payload, binary);
    return new SharedFrame(bytes, memory, this);
  }

  put(memory: Buffer): void {
    // Full: a larger buffer replaces the smallest, so frames that grew still find memory.
    let drop = -1;
    if (this.#free.length === MAX_FREE) {
      drop = 0;
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.length < this.#free[drop]!.length) drop = i;
      if (this.#free[drop]!.length >= memory.length) return;
    }
    const bytes = this.#freeBytes - (drop >= 0 ? this.#free[drop]!.length : 0) + memory.length;
    if (bytes > MAX_FREE_BYTES) return;
    if (drop >= 0) this.#free.splice(drop, 1);
    this.#free.push(memory);
    this.#freeBytes = bytes;
  }

  get freeCount(): number {
    return this.#free.length;
  }

  #take(length: number): Buffer {
    // The smallest free buffer that fits, and not one over twice the size: large ones stay
    // for large frames (several streams share the pool).
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.length;
      if (size >= length && size <= 2 * length && (best < 0 || size < this.#free[best]!.length)) best = i;
    }
    if (best >= 0) {
      const memory = this.#free.splice(best, 1)[0]!;
      this.#freeBytes -= memory.length;
      return memory;
    }
    // Not from Node's shared slab: this memory is handed from frame to frame.
    return Buffer.allocUnsafeSlow(Math.ceil((length * (1 + SLACK)) / 1024) * 1024);
  }
}
