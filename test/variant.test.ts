import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { VariantCache } from '../src/hub/variant.js';
import { sharedSpec } from '../src/hub/variant-spec.js';
import { SharpEncoder, type Encoder } from '../src/hub/encoder.js';
import type { Frame } from '../src/sources/frame.js';
import { sniffImage } from '../src/image/sniff.js';

async function jpegFrame(seq = 1): Promise<Frame> {
  // Noise so that quality changes the size the way it does for real pictures.
  const raw = Buffer.alloc(320 * 180 * 3);
  for (let i = 0; i < raw.length; i += 3) {
    const jitter = (i * 7919) % 17;
    raw[i] = 10 + jitter;
    raw[i + 1] = 120 + jitter;
    raw[i + 2] = 230 + jitter;
  }
  const bytes = await sharp(raw, { raw: { width: 320, height: 180, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
  return { bytes, format: 'jpeg', width: 320, height: 180, seq, capturedAt: Date.now(), quality: 80 };
}

/** Counts calls to the real encoder. */
function countingEncoder(): Encoder & { calls: number } {
  const inner = new SharpEncoder();
  const encoder = {
    calls: 0,
    encode: (...args: Parameters<Encoder['encode']>) => {
      encoder.calls++;
      return inner.encode(...args);
    },
  };
  return encoder;
}

describe('VariantCache', () => {
  it('encodes a variant once however many subscribers ask for it at once', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => 'OSD');
    const frame = await jpegFrame();
    const variants = await Promise.all(Array.from({ length: 50 }, () => cache.get(frame, { format: 'webp', quality: 60 })));
    assert.equal(encoder.calls, 1);
    assert.ok(variants.every((v) => v === variants[0]), 'every subscriber gets the same Variant object');
    assert.equal(sniffImage(variants[0]!.bytes)?.format, 'webp');
  });

  it('passes the source bytes through when format and quality already match', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => 'OSD');
    const frame = await jpegFrame();
    const variant = await cache.get(frame, { format: 'jpeg', quality: 80 });
    assert.equal(variant.bytes, frame.bytes, 'the very same Buffer');
    assert.equal(variant.passthrough, true);
    assert.equal(encoder.calls, 0);
    const bigBox = await cache.get(frame, { format: 'jpeg', quality: 80, maxWidth: 1920, maxHeight: 1080 });
    assert.equal(bigBox, variant, 'a box larger than the frame changes nothing');
  });

  it('passes a JPEG-only source through for any quality from its own up, and encodes below it', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => 'OSD');
    const frame = await jpegFrame();
    for (const quality of [81, 90, 100]) {
      const variant = await cache.get(frame, { format: 'jpeg', quality });
      assert.equal(variant.bytes, frame.bytes, `q${quality}: the source's own Buffer`);
      assert.equal(variant.passthrough, true);
    }
    assert.equal(encoder.calls, 0, 're-encoding at a higher quality would only grow the bytes');
    const lower = await cache.get(frame, { format: 'jpeg', quality: 79 });
    assert.equal(lower.passthrough, false);
    assert.equal(encoder.calls, 1);
    const unknown = { ...frame, seq: 2, quality: undefined };
    assert.equal((await cache.get(unknown, { format: 'jpeg', quality: 90 })).passthrough, false, 'a source of unknown quality is encoded');
    const raw = { data: Buffer.alloc(320 * 180 * 3, 90), width: 320, height: 180, channels: 3 as const };
    const withRaw = { ...frame, seq: 3, raw };
    assert.equal((await cache.get(withRaw, { format: 'jpeg', quality: 80 })).passthrough, true, 'its own quality passes through');
    assert.equal((await cache.get(withRaw, { format: 'jpeg', quality: 90 })).passthrough, false, 'from raw pixels a higher quality is a better picture');
  });

  it('peek hands out a ready variant synchronously: a pass-through at once, an encode once it finished', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => '');
    const frame = await jpegFrame();
    const source = cache.peek(frame, { format: 'jpeg', quality: 80 });
    assert.equal(source?.bytes, frame.bytes, 'pass-through is ready without awaiting anything');
    assert.equal(await cache.get(frame, { format: 'jpeg', quality: 80 }), source);
    const webp = { format: 'webp', quality: 50 } as const;
    assert.equal(cache.peek(frame, webp), undefined, 'not ready while it encodes');
    const encoded = await cache.get(frame, webp);
    assert.equal(cache.peek(frame, webp), encoded, 'ready once encoded, the same object');
    assert.equal(encoder.calls, 1, 'peek never encodes twice');
  });

  it('re-encodes for another quality, format, size or the OSD, each once', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => 'DEMO 12:00:00 30 FPS');
    const frame = await jpegFrame();
    const specs = [
      { format: 'jpeg', quality: 30 },
      { format: 'png', quality: 80 },
      { format: 'jpeg', quality: 80, maxWidth: 160, maxHeight: 160 },
      { format: 'jpeg', quality: 80, osd: true },
    ] as const;
    const out = [];
    for (const spec of specs) {
      out.push(await cache.get(frame, spec));
      await cache.get(frame, spec);
    }
    assert.equal(encoder.calls, 4);
    assert.ok(out[0]!.bytes.length < frame.bytes.length, 'lower quality is smaller');
    assert.equal(out[1]!.format, 'png');
    assert.equal(sniffImage(out[1]!.bytes)?.format, 'png');
    assert.deepEqual([out[2]!.width, out[2]!.height], [160, 90]);
    assert.deepEqual(sniffImage(out[2]!.bytes), { format: 'jpeg', mimeType: 'image/jpeg', width: 160, height: 90 });
    assert.notDeepEqual(out[3]!.bytes, frame.bytes);
  });

  it('draws the OSD onto the picture', async () => {
    const cache = new VariantCache(new SharpEncoder(), () => 'CAM 12:00:00.000 30.0 FPS');
    const frame = await jpegFrame();
    const osd = await cache.get(frame, { format: 'png', quality: 80, osd: true });
    const plain = await cache.get(frame, { format: 'png', quality: 80 });
    // The label is white text on a black box in the top-left corner; the frame there is blue.
    const corner = async (bytes: Buffer) => {
      const region = await sharp(bytes).extract({ left: 8, top: 8, width: 100, height: 20 }).png().toBuffer();
      return (await sharp(region).stats()).channels;
    };
    const [osdCorner, plainCorner] = await Promise.all([corner(osd.bytes), corner(plain.bytes)]);
    assert.ok(plainCorner[2]!.mean > 180, `no overlay: the corner is the frame's blue (${plainCorner.map((c) => c.mean)})`);
    assert.ok(osdCorner[2]!.mean < 150, 'overlay: the corner is mostly the dark label box');
    assert.ok(osdCorner[0]!.max > 200, 'overlay: with white text on it');
  });

  it('memoises base64 and data URLs per variant', async () => {
    const cache = new VariantCache(new SharpEncoder(), () => '');
    const frame = await jpegFrame();
    const variant = await cache.get(frame, { format: 'jpeg', quality: 80 });
    const url = variant.dataUrl();
    assert.equal(url, `data:image/jpeg;base64,${frame.bytes.toString('base64')}`);
    assert.equal(variant.dataUrl(), url);
    let builds = 0;
    const a = variant.memo('x', () => ++builds);
    const b = variant.memo('x', () => ++builds);
    assert.equal(a, 1);
    assert.equal(b, 1);
  });

  it('keeps the variants of the newest three frames only, however long the stream runs', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => '');
    const spec = { format: 'png', quality: 80 } as const;
    const frames = await Promise.all([1, 2, 3, 4, 5].map((seq) => jpegFrame(seq)));
    for (const f of frames) await cache.get(f, spec);
    assert.equal(encoder.calls, 5);
    await Promise.all(frames.slice(2).map((f) => cache.get(f, spec)));
    assert.equal(encoder.calls, 5, 'frames 3-5 are still cached');
    await cache.get(frames[0]!, spec);
    assert.equal(encoder.calls, 6, 'frame 1 was let go (a WeakMap would have kept it while the test holds it)');
  });

  it('does not let an old frame push a newer one out', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => '');
    const spec = { format: 'png', quality: 80 } as const;
    const frames = await Promise.all([1, 2, 3, 4].map((seq) => jpegFrame(seq)));
    for (const f of frames.slice(1)) await cache.get(f, spec);
    await cache.get(frames[0]!, spec); // older than all three kept: served, not kept
    assert.equal(encoder.calls, 4);
    await Promise.all(frames.slice(1).map((f) => cache.get(f, spec)));
    assert.equal(encoder.calls, 4, 'frames 2-4 are all still cached');
    cache.clear();
    await cache.get(frames[3]!, spec);
    assert.equal(encoder.calls, 5, 'clear() forgets everything');
  });

  it('keeps variants of different frames apart', async () => {
    const encoder = countingEncoder();
    const cache = new VariantCache(encoder, () => '');
    const [f1, f2] = [await jpegFrame(1), await jpegFrame(2)];
    const [v1, v2] = await Promise.all([cache.get(f1, { format: 'png', quality: 80 }), cache.get(f2, { format: 'png', quality: 80 })]);
    assert.notEqual(v1, v2);
    assert.equal(v1.frame.seq, 1);
    assert.equal(v2.frame.seq, 2);
    assert.equal(encoder.calls, 2);
  });

  it('peek answers a shared spec for the frame it was asked about, never for a newer frame or another spec', async () => {
    const cache = new VariantCache(countingEncoder(), () => '');
    const [f1, f2] = [await jpegFrame(1), await jpegFrame(2)];
    const png = sharedSpec({ format: 'png', quality: 80 });
    const source = sharedSpec({ format: 'jpeg', quality: 80 });
    assert.equal(cache.peek(f1, source)?.bytes, f1.bytes);
    assert.equal(cache.peek(f1, source)?.bytes, f1.bytes, 'the same frame and spec again');
    assert.equal(cache.peek(f2, source)?.bytes, f2.bytes, 'a newer frame with the same spec');
    assert.equal(cache.peek(f2, png), undefined, 'another spec whose encode has not run');
    const encoded = await cache.get(f2, png);
    assert.equal(cache.peek(f2, png), encoded);
    assert.equal(cache.peek(f1, source)?.bytes, f1.bytes, 'back to an older frame');
    cache.clear();
    assert.equal(cache.peek(f2, png), undefined, 'clear() forgets the last answer too');
  });
});

describe('sharedSpec', () => {
  it('hands out one frozen object per distinct spec', () => {
    const a = sharedSpec({ format: 'jpeg', quality: 70, maxWidth: 640, maxHeight: 360 });
    assert.equal(sharedSpec({ format: 'jpeg', quality: 70, maxWidth: 640, maxHeight: 360, osd: false }), a);
    assert.ok(Object.isFrozen(a));
    assert.deepEqual({ ...a }, { format: 'jpeg', quality: 70, osd: false, maxWidth: 640, maxHeight: 360 });
    for (const other of [
      { format: 'webp', quality: 70, maxWidth: 640, maxHeight: 360 },
      { format: 'jpeg', quality: 71, maxWidth: 640, maxHeight: 360 },
      { format: 'jpeg', quality: 70, maxWidth: 640 },
      { format: 'jpeg', quality: 70, maxWidth: 640, maxHeight: 360, osd: true },
    ] as const) {
      assert.notEqual(sharedSpec(other), a, JSON.stringify(other));
    }
  });
});

describe('Variant release', () => {
  it('disposes memoised values when the cache evicts the frame or is cleared, and builds them afresh if asked again', async () => {
    const cache = new VariantCache(countingEncoder(), () => '');
    const spec = sharedSpec({ format: 'jpeg', quality: 80 });
    const frames = await Promise.all([1, 2, 3, 4].map((seq) => jpegFrame(seq)));
    const disposed: number[] = [];
    const memoOf = (seq: number) => cache.peek(frames[seq - 1]!, spec)!.memo('k', () => ({ seq }), (value) => disposed.push(value.seq));
    const variant1 = cache.peek(frames[0]!, spec)!;
    const first = memoOf(1);
    assert.equal(memoOf(1), first, 'memoised');
    memoOf(2);
    memoOf(3);
    assert.deepEqual(disposed, [], 'three frames are kept');
    memoOf(4);
    assert.deepEqual(disposed, [1], 'the fourth frame evicts the first');
    assert.notEqual(variant1.memo('k', () => ({ seq: 1 })), first, 'a released variant builds its values afresh');
    cache.clear();
    assert.deepEqual(disposed.sort(), [1, 2, 3, 4], 'clear() disposes every kept frame once');
  });
});
