/**
 * Large buffers kept between encodes instead of allocated for each: a fresh multi-megabyte
 * Buffer per frame is external memory V8 counts towards its next full GC, and in a server with a
 * large heap those GCs cost more than the encode itself (bench: `--scenario encode`, the OSD and
 * JPEG-to-JPEG paths). A pool holds at most `max` buffers; more at once are allocated and dropped.
 */
export class ScratchPool {
  readonly #free: Buffer[] = [];

  constructor(private readonly max: number) {}

  /** A buffer of exactly `size` bytes, contents undefined. Give it back with `give` once done. */
  take(size: number): Buffer {
    const at = this.#free.findIndex((b) => b.length >= size);
    const whole = at >= 0 ? this.#free.splice(at, 1)[0]! : Buffer.allocUnsafeSlow(size);
    return whole.subarray(0, size);
  }

  /** Returns a buffer from `take`; nothing may use it afterwards. */
  give(buffer: Buffer): void {
    // `take` hands out views from offset 0 of buffers that own their ArrayBuffer: take the whole back.
    if (this.#free.length < this.max) this.#free.push(Buffer.from(buffer.buffer, 0, buffer.buffer.byteLength));
  }
}
