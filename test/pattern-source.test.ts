import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { PatternSource } from '../src/sources/pattern-source.js';
import type { SourceFrame } from '../src/sources/source.js';
import { withTimeout } from './wait.js';

/** The first `count` frames of a pattern source running at 60 fps. */
async function frames(source: PatternSource, count: number): Promise<SourceFrame[]> {
  const got: SourceFrame[] = [];
  const done = new Promise<void>((resolve) => {
    source.on('frame', function onFrame(frame: SourceFrame) {
      got.push(frame);
      if (got.length === count) {
        source.off('frame', onFrame);
        resolve();
      }
    });
  });
  await source.start();
  try {
    await withTimeout(done, 60_000, `${count} pattern frames`);
  } finally {
    await source.stop();
  }
  return got;
}

const decode = (bytes: Buffer) => sharp(bytes).raw().toBuffer();

describe('PatternSource (the demo)', () => {
  it('draws in place and stacks reused JPEG bands: each frame decodes to what a whole-frame encode of its pixels does, over more than one cycle of the bars', async () => {
    // 320x240: bars repeat every 80 frames, the box every 60; bands of bars alone, bars with the
    // label, bars with the counter and clock, and the box band (a partial one) are all there.
    const source = new PatternSource({ width: 320, height: 240, fps: 60 });
    const got = await frames(source, 130);
    for (const frame of got) {
      const raw = frame.raw!;
      assert.ok(raw, 'frames carry their raw pixels');
      // The restart-interval marker: the frame was put together from bands, not encoded whole.
      assert.ok(frame.bytes.includes(Buffer.from([0xff, 0xdd, 0x00, 0x04])), 'the JPEG declares a restart interval per band');
      const whole = await sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 } }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer();
      assert.ok((await decode(frame.bytes)).equals(await decode(whole)), `frame ${String(frame.meta?.pattern)} decodes like a whole-frame encode of its pixels`);
    }
    // Frames differ from each other (counter, clock, bars, box): the picture moves.
    const first = await decode(got[0]!.bytes);
    assert.ok(!first.equals(await decode(got[1]!.bytes)), 'consecutive frames differ');
  });

  it('keeps each emitted frame\'s raw pixels its own while the canvas moves on', async () => {
    const source = new PatternSource({ width: 160, height: 90, fps: 60 });
    const got = await frames(source, 3);
    const copies = got.map((f) => Buffer.from(f.raw!.data));
    const again = new PatternSource({ width: 160, height: 90 });
    assert.ok(!got[0]!.raw!.data.equals(got[2]!.raw!.data), 'frames 1 and 3 have different pixels');
    for (let i = 0; i < got.length; i++) assert.ok(got[i]!.raw!.data.equals(copies[i]!), `frame ${i + 1}'s raw was not redrawn`);
    // Frame n's pixels depend on n and the clock only: a fresh source's render(1) is frame 1.
    assert.ok(again.render(1, new Date(got[0]!.capturedAt)).data.equals(got[0]!.raw!.data), 'render(n) draws what frame n showed');
  });
});
