import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ReaderDemand } from '../src/hub/reader-demand.js';
import { Stream } from '../src/hub/stream.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import { sharedSpec } from '../src/hub/variant-spec.js';
import { VideoTier } from '../src/hub/video-tier.js';
import { videoTier } from '../src/hub/video-tier-spec.js';
import { PatternSource } from '../src/sources/pattern-source.js';
import type { Frame } from '../src/sources/frame.js';
import type { DeliveryDone } from '../src/hub/subscriber-slot.js';
import { nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { withTimeout } from './wait.js';

const FULL = { width: 1280, height: 720, quality: 80 };

describe('ReaderDemand', () => {
  it('wants pixels only for a reader that encodes: not for the source\'s own JPEG, yes for another size, quality, format, an overlay or a video tier', () => {
    const demand = new ReaderDemand();
    const shape = { width: 1280, height: 720, format: 'jpeg', quality: 80 } as const;
    assert.equal(demand.wantsPixels(shape), false, 'nobody reads');
    const own = demand.hold({ kind: 'variant', spec: { format: 'jpeg', quality: 80 } });
    const frames = demand.hold({ kind: 'frames' });
    assert.equal(demand.wantsPixels(shape), false, 'the source\'s bytes pass through');
    for (const need of [
      { kind: 'variant', spec: { format: 'jpeg', quality: 80, maxWidth: 640 } },
      { kind: 'variant', spec: { format: 'jpeg', quality: 50 } },
      { kind: 'variant', spec: { format: 'jpeg', quality: 90 } },
      { kind: 'variant', spec: { format: 'png', quality: 80 } },
      { kind: 'variant', spec: { format: 'jpeg', quality: 80, osd: true } },
      { kind: 'pixels', maxHeight: 360 },
    ] as const) {
      const release = demand.hold(need);
      assert.equal(demand.wantsPixels(shape), true, JSON.stringify(need));
      release();
      release(); // a second call gives nothing back twice
      assert.equal(demand.wantsPixels(shape), false, `${JSON.stringify(need)} released`);
    }
    own();
    frames();
    assert.equal(demand.size, 0);
  });

  it('knows the largest size and highest quality its readers show, never above the source\'s', () => {
    const demand = new ReaderDemand();
    assert.equal(demand.largest(FULL), undefined, 'nobody reads');
    const small = demand.hold({ kind: 'variant', spec: { format: 'jpeg', quality: 50, maxWidth: 640 } });
    assert.deepEqual(demand.largest(FULL), { width: 640, height: 360, quality: 50 });
    const tier = demand.hold({ kind: 'pixels', maxHeight: 480 });
    assert.deepEqual(demand.largest(FULL), { width: 853, height: 480, quality: 80 }, 'a video tier: its size, the source\'s quality');
    tier();
    const high = demand.hold({ kind: 'variant', spec: { format: 'jpeg', quality: 95, maxWidth: 320 } });
    assert.deepEqual(demand.largest(FULL), { width: 640, height: 360, quality: 80 }, 'quality capped at the source\'s');
    high();
    const png = demand.hold({ kind: 'variant', spec: { format: 'png', quality: 10, maxHeight: 180 } });
    assert.deepEqual(demand.largest(FULL), { width: 640, height: 360, quality: 80 }, 'a lossless format shows the best quality there is');
    png();
    const relay = demand.hold({ kind: 'frames' });
    assert.deepEqual(demand.largest(FULL), FULL);
    relay();
    small();
    assert.equal(demand.largest(FULL), undefined);
  });

  it('tells its listeners when a need comes or goes, not when another holder of one joins', () => {
    const demand = new ReaderDemand();
    let changes = 0;
    const stop = demand.onChange(() => changes++);
    demand.onChange(() => {
      throw new Error('a failing listener');
    });
    const spec = { kind: 'variant', spec: { format: 'jpeg', quality: 50 } } as const;
    const a = demand.hold(spec);
    const b = demand.hold(spec);
    assert.equal(changes, 1);
    a();
    assert.equal(changes, 1, 'b still holds it');
    b();
    assert.equal(changes, 2);
    stop();
    demand.hold(spec);
    assert.equal(changes, 2, 'stopped');
  });
});

interface Seen {
  frame: Frame;
  /** Whether it carried raw pixels when it came (the stream drops them once the next one comes). */
  hadRaw: boolean;
}

/** The next frame of `stream` that `predicate` accepts. */
function nextFrame(stream: Stream, predicate: (seen: Seen) => boolean = () => true): Promise<Seen> {
  let onFrame!: (frame: Frame) => void;
  const found = new Promise<Seen>((resolve) => {
    onFrame = (frame) => {
      const seen = { frame, hadRaw: frame.raw !== undefined };
      if (predicate(seen)) resolve(seen);
    };
    stream.on('frame', onFrame);
  });
  return withTimeout(found, 20_000, 'a frame').finally(() => stream.off('frame', onFrame));
}

/** A subscriber like a route's client: its claimed variant is its need. */
function viewer(stream: Stream, spec: Parameters<typeof sharedSpec>[0]) {
  const shared = sharedSpec(spec);
  const unclaim = stream.variants.claim(shared);
  const subscription = stream.subscribe({ fps: 30, need: null, deliver: (_frame: Frame, done: DeliveryDone) => done(undefined, 0) });
  return () => {
    subscription.close();
    unclaim();
  };
}

describe('the demo\'s raw pixels, on demand', () => {
  let stream: Stream;
  let source: PatternSource;
  before(() => {
    source = new PatternSource({ width: 320, height: 180, fps: 30, quality: 80 });
    stream = new Stream('demo', source, new SharpEncoder(), { idleGraceMs: 60_000 });
  });
  after(() => stream.close());

  it('copies no pixels while every viewer takes the pass-through JPEG, and does for a resized variant, whose pixels are right', async () => {
    const leave = viewer(stream, { format: 'jpeg', quality: 80 });
    // The first frames may have been drawn before the viewer's need: look at a later one.
    const first = await nextFrame(stream);
    const later = await nextFrame(stream, (seen) => seen.frame.seq > first.frame.seq + 1);
    assert.equal(later.hadRaw, false, 'no raw copy for pass-through viewers');
    const variant = await stream.variants.get(later.frame, sharedSpec({ format: 'jpeg', quality: 80 }));
    assert.equal(variant.passthrough, true);

    const leaveSmall = viewer(stream, { format: 'jpeg', quality: 80, maxWidth: 160 });
    const withRaw = await nextFrame(stream, (seen) => seen.hadRaw);
    const small = await stream.variants.get(withRaw.frame, sharedSpec({ format: 'jpeg', quality: 80, maxWidth: 160 }));
    assert.equal(small.width, 160);
    assert.equal(small.height, 90);
    // Encoded from that frame's own pixels: the same bytes as its picture drawn afresh, resized
    // and encoded the way the encoder does (a decode of its JPEG would give other bytes).
    const n = withRaw.frame.meta!['pattern'] as number;
    const drawn = new PatternSource({ width: 320, height: 180, quality: 80 }).render(n, new Date(withRaw.frame.capturedAt));
    const expected = await sharp(drawn.data, { raw: { width: 320, height: 180, channels: 3 } }).resize(160, 90, { fit: 'fill' }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer();
    assert.ok(small.bytes.equals(expected), 'the variant is the frame\'s pixels resized');
    const fromJpeg = await sharp(withRaw.frame.bytes).resize(160, 90, { fit: 'fill' }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer();
    assert.ok(!fromJpeg.equals(expected), 'a decode of the JPEG would have given other bytes');

    leaveSmall();
    const gone = await nextFrame(stream);
    const afterLater = await nextFrame(stream, (seen) => seen.frame.seq > gone.frame.seq + 1);
    assert.equal(afterLater.hadRaw, false, 'the resized viewer left: no copies again');
    leave();
  });

  it('copies pixels while an H.264 tier is watched', async () => {
    const leave = viewer(stream, { format: 'jpeg', quality: 80 });
    const tier = new VideoTier(stream, videoTier('360p')!, { idleGraceMs: 0 });
    const units = { count: 0 };
    const watching = tier.subscribe({ deliver: (u, done) => { units.count += u.length; done(undefined, 0); } });
    try {
      const seen = await nextFrame(stream, (s) => s.hadRaw);
      assert.ok(seen.hadRaw);
    } finally {
      watching.close();
      await tier.close();
      leave();
    }
    const next = await nextFrame(stream);
    const later = await nextFrame(stream, (s) => s.frame.seq > next.frame.seq + 1);
    assert.equal(later.hadRaw, false, 'the tier stopped: no copies again');
  });
});

describe('take_screenshot of the demo with a pass-through viewer', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('is encoded at quality 100 from the next frame\'s pixels, not the frame\'s own bytes', async () => {
    const ws = await openSocket(`${s.ws}/stream/demo?fps=30&quality=80&format=jpeg`);
    const frame = await nextJson(ws, (m) => m.type === 'frame');
    ws.send(JSON.stringify({ command: 'take_screenshot' }));
    const shot = await nextJson(ws, (m) => m.type === 'screenshot');
    ws.close();
    assert.equal(shot.data.width, frame.data.width);
    assert.ok(shot.data.size > frame.data.size * 1.5, `quality 100 (${shot.data.size} B) is far bigger than the demo's 80 (${frame.data.size} B)`);
  });
});
