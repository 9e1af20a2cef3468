import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FramePool } from '../src/server/preframed.js';

describe('FramePool and Preframed', () => {
  it('builds one whole frame, header then payload, in pooled memory as in fresh memory', () => {
    const pool = new FramePool();
    // 70 000 bytes (pooled, 64-bit length), 40 000 bytes of text (pooled, 16-bit), 5 bytes (not pooled, 7-bit).
    for (const [payload, header] of [
      [Buffer.alloc(70_000, 1), [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]],
      ['é'.repeat(20_000), [0x81, 126, 0x9c, 0x40]],
      [Buffer.from('small'), [0x82, 5]],
    ] as const) {
      const bytes = pool.frame(payload, typeof payload !== 'string').bytes;
      assert.deepEqual([...bytes.subarray(0, header.length)], header);
      assert.ok(bytes.subarray(header.length).equals(Buffer.from(payload)));
    }
  });

  it('gives memory back once, when the frame is retired and the last hold released', () => {
    const pool = new FramePool();
    const frame = pool.frame(Buffer.alloc(40_000), true);
    frame.hold();
    frame.hold();
    frame.retire();
    frame.release();
    assert.equal(pool.freeCount, 0, 'one hold left');
    frame.release();
    assert.equal(pool.freeCount, 1);
    frame.retire();
    frame.hold();
    frame.release();
    assert.equal(pool.freeCount, 1, 'never twice: two frames would share the memory');
  });

  it('does not pool small or huge frames, nor hand a small frame a buffer over twice its size', () => {
    const pool = new FramePool();
    const small = pool.frame(Buffer.alloc(1000), true);
    small.retire();
    assert.equal(pool.freeCount, 0);
    const huge = pool.frame(Buffer.alloc(5 * 1024 * 1024), true);
    huge.retire();
    assert.equal(pool.freeCount, 0);
    const big = pool.frame(Buffer.alloc(200_000), true);
    big.retire();
    assert.equal(pool.freeCount, 1);
    const medium = pool.frame(Buffer.alloc(40_000), true);
    assert.notEqual(medium.bytes.buffer, big.bytes.buffer);
    assert.equal(pool.freeCount, 1, 'the large buffer stays for a large frame');
    const large = pool.frame(Buffer.alloc(190_000), true);
    assert.equal(large.bytes.buffer, big.bytes.buffer);
    assert.equal(pool.freeCount, 0);
  });

  it('keeps at most 4 free buffers and 8 MiB, preferring larger ones when full', () => {
    const pool = new FramePool();
    const frames = Array.from({ length: 6 }, (_, i) => pool.frame(Buffer.alloc(20_000 + i * 1000), true));
    for (const frame of frames) frame.retire();
    assert.equal(pool.freeCount, 4);
    const bigFrames = Array.from({ length: 4 }, () => pool.frame(Buffer.alloc(3_000_000), true));
    for (const frame of bigFrames) frame.retire();
    // Each big buffer replaced a small one while the bytes stayed within 8 MiB (2 x ~3.1 MB).
    assert.equal(pool.freeCount, 4);
    const reused = Array.from({ length: 4 }, () => pool.frame(Buffer.alloc(3_000_000), true));
    assert.equal(reused.filter((f) => bigFrames.some((b) => b.bytes.buffer === f.bytes.buffer)).length, 2);
  });

  it('gives new memory only a few percent more than the frame: a stalled client holds all of it', () => {
    const frame = new FramePool().frame(Buffer.alloc(65_605), true);
    const held = (frame.bytes.buffer as ArrayBuffer).byteLength;
    assert.ok(held >= frame.bytes.length && held <= frame.bytes.length * 1.05, `${held} bytes for a ${frame.bytes.length}-byte frame`);
  });
});
