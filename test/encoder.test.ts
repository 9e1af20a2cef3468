import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { SharpEncoder, encodePlan } from '../src/hub/encoder.js';
import { canEncodeJpegTurbo } from '../src/image/jpeg-turbo.js';
import { sniffImage } from '../src/image/sniff.js';
import type { RawImage } from '../src/image/raster.js';
import type { Frame } from '../src/sources/frame.js';

const WIDTH = 640;
const HEIGHT = 360;

/** A picture with edges and gradients, so that how it was scaled shows in the bytes. */
function picture(channels: 3 | 4 = 3): RawImage {
  const data = Buffer.alloc(WIDTH * HEIGHT * channels);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const at = (y * WIDTH + x) * channels;
      data[at] = (x * 255) / WIDTH;
      data[at + 1] = ((x >> 3) + (y >> 3)) % 2 === 0 ? 220 : 30;
      data[at + 2] = (y * 255) / HEIGHT;
      if (channels === 4) data[at + 3] = 255;
    }
  }
  return { data, width: WIDTH, height: HEIGHT, channels };
}

async function frames(): Promise<{ raw: RawImage; rawFrame: Frame; jpegFrame: Frame }> {
  const raw = picture();
  const bytes = await sharp(raw.data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
  const base = { bytes, format: 'jpeg' as const, width: WIDTH, height: HEIGHT, seq: 1, capturedAt: 0, quality: 80 };
  return { raw, rawFrame: { ...base, raw }, jpegFrame: base };
}

/** Mean absolute difference per channel value between two same-size images. */
async function meanDiff(a: Buffer, b: Buffer): Promise<number> {
  const [pa, pb] = await Promise.all([sharp(a).removeAlpha().raw().toBuffer(), sharp(b).removeAlpha().raw().toBuffer()]);
  assert.equal(pa.length, pb.length);
  let sum = 0;
  for (let i = 0; i < pa.length; i++) sum += Math.abs(pa[i]! - pb[i]!);
  return sum / pa.length;
}

describe('SharpEncoder', () => {
  it('encodes JPEG from raw pixels and from a JPEG frame through libjpeg-turbo, up to quality 90', async () => {
    const { rawFrame, jpegFrame } = await frames();
    assert.ok(canEncodeJpegTurbo(80), 'the binding loads on this platform');
    assert.deepEqual(encodePlan(rawFrame, { format: 'jpeg', quality: 70 }), { source: 'raw', turbo: true });
    assert.deepEqual(encodePlan(jpegFrame, { format: 'jpeg', quality: 70 }), { source: 'decode', turbo: true });
    assert.deepEqual(encodePlan(rawFrame, { format: 'jpeg', quality: 95 }), { source: 'raw', turbo: false }, 'its fast DCT shows above 90');
    assert.deepEqual(encodePlan(rawFrame, { format: 'webp', quality: 70 }), { source: 'raw', turbo: false });
  });

  it('writes JPEGs that decode to the picture, from raw RGB, raw RGBA and JPEG frames', async () => {
    const { raw, rawFrame, jpegFrame } = await frames();
    const encoder = new SharpEncoder();
    const rgba = picture(4);
    const input = sharp(raw.data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } });
    const reference = await input.clone().png().toBuffer();
    // libvips' own JPEG at the same quality: as far from the picture as a q70 JPEG should be.
    const byVips = await meanDiff(await input.clone().jpeg({ quality: 70, optimiseCoding: false }).toBuffer(), reference);
    for (const [name, frame, from] of [['raw RGB', rawFrame, reference], ['JPEG', jpegFrame, jpegFrame.bytes], ['raw RGBA', { ...rawFrame, raw: rgba }, reference]] as const) {
      const out = await encoder.encode(frame, { format: 'jpeg', quality: 70 });
      assert.deepEqual(sniffImage(out.bytes), { format: 'jpeg', mimeType: 'image/jpeg', width: WIDTH, height: HEIGHT }, name);
      assert.deepEqual([out.width, out.height], [WIDTH, HEIGHT]);
      const diff = await meanDiff(out.bytes, from);
      assert.ok(diff < byVips + 0.5, `${name}: as close to its input as libvips' JPEG (mean difference ${diff.toFixed(2)} vs ${byVips.toFixed(2)})`);
    }
    const low = await encoder.encode(jpegFrame, { format: 'jpeg', quality: 40 });
    assert.ok(low.bytes.length < jpegFrame.bytes.length, 'a lower quality is smaller than the source');
  });

  it('falls back to libvips for a JPEG TurboJPEG will not decode to RGB (CMYK)', async () => {
    const { raw } = await frames();
    const cmyk = await sharp(raw.data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
    const frame: Frame = { bytes: cmyk, format: 'jpeg', width: WIDTH, height: HEIGHT, seq: 1, capturedAt: 0, quality: 90 };
    const out = await new SharpEncoder().encode(frame, { format: 'jpeg', quality: 60 });
    assert.deepEqual(sniffImage(out.bytes), { format: 'jpeg', mimeType: 'image/jpeg', width: WIDTH, height: HEIGHT });
    assert.equal((await sharp(out.bytes).metadata()).space, 'srgb');
  });

  it('draws the OSD on a copy: the frame\'s own pixels, shared by every variant, stay as they were', async () => {
    const { raw, rawFrame } = await frames();
    const before = Buffer.from(raw.data);
    const encoder = new SharpEncoder();
    const osd = await encoder.encode(rawFrame, { format: 'jpeg', quality: 80, osd: true }, 'CAM 12:00:00 30 FPS');
    assert.ok(raw.data.equals(before), 'raw pixels untouched');
    const plain = await encoder.encode(rawFrame, { format: 'jpeg', quality: 80 });
    // The label is white text on a black box from (8, 8); the rest of the picture is as it was.
    const region = (bytes: Buffer, left: number, top: number) => sharp(bytes).extract({ left, top, width: 60, height: 14 }).png().toBuffer();
    const label = await meanDiff(await region(osd.bytes, 8, 8), await region(plain.bytes, 8, 8));
    const elsewhere = await meanDiff(await region(osd.bytes, 400, 300), await region(plain.bytes, 400, 300));
    assert.ok(label > 40, `the label covers the corner (mean difference ${label.toFixed(1)})`);
    assert.ok(elsewhere < 2, `and nothing else (mean difference ${elsewhere.toFixed(1)})`);
  });

  it('downscales a JPEG-only frame from its bytes, so libjpeg decodes it in the DCT domain (shrink-on-load)', async () => {
    const { jpegFrame, rawFrame } = await frames();
    const spec = { format: 'jpeg', quality: 80, maxWidth: WIDTH / 4, maxHeight: HEIGHT / 4 } as const;
    assert.equal(encodePlan(jpegFrame, spec).source, 'resize');
    assert.equal(encodePlan(rawFrame, spec).source, 'raw-resize', 'raw pixels, where there are some, cost less than any decode');
    const out = await new SharpEncoder().encode(jpegFrame, spec);
    assert.deepEqual(sniffImage(out.bytes), { format: 'jpeg', mimeType: 'image/jpeg', width: WIDTH / 4, height: HEIGHT / 4 });
    assert.deepEqual([out.width, out.height], [WIDTH / 4, HEIGHT / 4]);
    // The same resize from fully decoded pixels gives other bytes: this one was scaled by the IDCT.
    const full = await sharp(jpegFrame.bytes).raw().toBuffer();
    const fromFull = await sharp(full, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
      .resize(WIDTH / 4, HEIGHT / 4, { fit: 'fill' }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer();
    const onLoad = await sharp(jpegFrame.bytes).resize(WIDTH / 4, HEIGHT / 4, { fit: 'fill' }).jpeg({ quality: 80, optimiseCoding: false }).toBuffer();
    assert.ok(out.bytes.equals(onLoad), 'what sharp gives when it shrinks on load');
    assert.ok(!out.bytes.equals(fromFull), 'not a resize of the full decode');
  });
});
