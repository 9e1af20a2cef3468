// Hostile input for the image sniffer (src/image/sniff.ts; its valid images are in
// sniff.test.ts): truncated, corrupted and random bytes never throw and never yield a wrong size.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { MIME_TYPES, sniffFormat, sniffImage, type ImageFormat } from '../src/image/sniff.js';
import { prng } from './codec-cases.js';

const WIDTH = 301;
const HEIGHT = 157;

async function images(): Promise<[string, ImageFormat, Buffer][]> {
  const base = () => sharp({ create: { width: WIDTH, height: HEIGHT, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.7 } } });
  return [
    ['png', 'png', await base().png().toBuffer()],
    ['jpeg', 'jpeg', await base().jpeg().withMetadata({ exif: { IFD0: { Copyright: 'framehub' } } }).toBuffer()],
    ['progressive jpeg', 'jpeg', await base().jpeg({ progressive: true }).toBuffer()],
    ['lossy webp with alpha (VP8X)', 'webp', await base().webp().toBuffer()],
    ['lossless webp (VP8L)', 'webp', await base().removeAlpha().webp({ lossless: true }).toBuffer()],
    ['lossy webp (VP8)', 'webp', await base().removeAlpha().webp().toBuffer()],
    ['gif', 'gif', await base().gif().toBuffer()],
  ];
}

/** The result is undefined or a well-formed ImageInfo; throws nothing. */
function sniffChecked(bytes: Uint8Array): ReturnType<typeof sniffImage> {
  const info = sniffImage(bytes);
  if (info === undefined) return undefined;
  assert.equal(info.mimeType, MIME_TYPES[info.format]);
  for (const side of [info.width, info.height]) {
    if (side !== undefined) assert.ok(Number.isInteger(side) && side >= 0 && side <= 2 ** 32, `size ${side}`);
  }
  return info;
}

describe('sniffImage on hostile bytes', () => {
  it('gives the format, and the true size or none, for every truncation of a real image', async () => {
    for (const [name, format, bytes] of await images()) {
      let sized = 0;
      for (let length = 0; length <= Math.min(bytes.length, 20_000); length++) {
        const info = sniffChecked(bytes.subarray(0, length));
        if (info === undefined) {
          assert.equal(sniffFormat(bytes.subarray(0, length)), undefined);
          continue;
        }
        assert.equal(info.format, format, `${name} cut at ${length}`);
        if (info.width !== undefined || info.height !== undefined) {
          assert.deepEqual([info.width, info.height], [WIDTH, HEIGHT], `${name} cut at ${length}`);
          sized++;
        }
      }
      assert.ok(sized > 0, `${name}: the size was read once the header was complete`);
      assert.deepEqual(sniffImage(bytes), { format, mimeType: MIME_TYPES[format], width: WIDTH, height: HEIGHT }, name);
    }
  });

  it('throws nothing on corrupted images and random bytes', async () => {
    const random = prng(0x1ae6);
    const originals = (await images()).map(([, , bytes]) => bytes.subarray(0, 2048));
    for (let i = 0; i < 5000; i++) {
      const bytes = Uint8Array.from(originals[i % originals.length]!);
      for (let flips = 1 + Math.floor(random() * 8); flips > 0; flips--) {
        // Keep the magic bytes most of the time so the size readers are reached.
        const at = random() < 0.8 ? 12 + Math.floor(random() * (bytes.length - 12)) : Math.floor(random() * bytes.length);
        bytes[at] = Math.floor(random() * 256);
      }
      sniffChecked(bytes.subarray(0, Math.floor(random() * bytes.length) + 1));
    }
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      const info = sniffChecked(bytes);
      if (sniffFormat(bytes) === undefined) assert.equal(info, undefined);
    }
  });

  it('reads a JPEG size behind fill bytes and markers without a length, and none after start of scan', () => {
    const sof = [0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x20, 0x00, 0x40, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
    const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xff, 0xff, 0xd0, 0xff, 0x01, ...sof, 0xff, 0xd9]);
    assert.deepEqual(sniffImage(jpeg), { format: 'jpeg', mimeType: 'image/jpeg', width: 64, height: 32 });
    const scanFirst = Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, ...sof]);
    assert.deepEqual(sniffImage(scanFirst), { format: 'jpeg', mimeType: 'image/jpeg' });
    const dhtIsNotSof = Uint8Array.from([0xff, 0xd8, 0xff, 0xc4, 0x00, 0x04, 0, 0, ...sof]);
    assert.deepEqual(sniffImage(dhtIsNotSof), { format: 'jpeg', mimeType: 'image/jpeg', width: 64, height: 32 });
  });
});
