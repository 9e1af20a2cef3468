import type { Frame } from '../src/sources/frame.js';

/**
 * A frame for tests of pacing and delivery, where nothing decodes the image: 100 bytes filled
 * with `seq`, captured at `capturedAt` (ms; `seq` unless given).
 */
export function fakeFrame(seq: number, capturedAt = seq): Frame {
  return { bytes: Buffer.alloc(100, seq), format: 'jpeg', width: 1, height: 1, seq, capturedAt };
}
