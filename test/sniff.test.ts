import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { sniffImage } from '../src/image/sniff.js';

const rgb = () => sharp({ create: { width: 37, height: 23, channels: 3, background: { r: 200, g: 30, b: 90 } } });
const rgba = () => sharp({ create: { width: 37, height: 23, channels: 4, background: { r: 200, g: 30, b: 90, alpha: 0.5 } } });

function chunkOf(webp: Buffer): string {
  return webp.subarray(12, 16).toString('ascii');
}

describe('sniffImage', () => {
  it('reads PNG format and size', async () => {
    assert.deepEqual(sniffImage(await rgb().png().toBuffer()), { format: 'png', mimeType: 'image/png', width: 37, height: 23 });
  });

  it('reads JPEG format and size, baseline and progressive', async () => {
    for (const progressive of [false, true]) {
      const info = sniffImage(await rgb().jpeg({ progressive }).toBuffer());
      assert.deepEqual(info, { format: 'jpeg', mimeType: 'image/jpeg', width: 37, height: 23 });
    }
  });

  it('reads JPEG size behind an EXIF segment', async () => {
    const jpeg = await rgb().jpeg().withMetadata({ exif: { IFD0: { Copyright: 'framehub test' } } }).toBuffer();
    assert.equal(jpeg[3], 0xe1, 'the test image starts with an APP1 (EXIF) segment');
    assert.deepEqual(sniffImage(jpeg), { format: 'jpeg', mimeType: 'image/jpeg', width: 37, height: 23 });
  });

  it('reads lossy WebP (VP8)', async () => {
    const webp = await rgb().webp({ lossless: false }).toBuffer();
    assert.equal(chunkOf(webp), 'VP8 ');
    assert.deepEqual(sniffImage(webp), { format: 'webp', mimeType: 'image/webp', width: 37, height: 23 });
  });

  it('reads lossless WebP (VP8L)', async () => {
    const webp = await rgb().webp({ lossless: true }).toBuffer();
    assert.equal(chunkOf(webp), 'VP8L');
    assert.deepEqual(sniffImage(webp), { format: 'webp', mimeType: 'image/webp', width: 37, height: 23 });
  });

  it('reads extended WebP (VP8X)', async () => {
    const webp = await rgba().webp({ lossless: false }).toBuffer();
    assert.equal(chunkOf(webp), 'VP8X');
    assert.deepEqual(sniffImage(webp), { format: 'webp', mimeType: 'image/webp', width: 37, height: 23 });
  });

  it('reads GIF format and size', async () => {
    assert.deepEqual(sniffImage(await rgb().gif().toBuffer()), { format: 'gif', mimeType: 'image/gif', width: 37, height: 23 });
  });

  it('returns undefined for anything else, including truncated headers', () => {
    assert.equal(sniffImage(new Uint8Array(0)), undefined);
    assert.equal(sniffImage(new TextEncoder().encode('{"type":"frame"}')), undefined);
    assert.equal(sniffImage(new Uint8Array([0x89, 0x50, 0x4e])), undefined);
  });

  it('knows the format of a truncated image even when the size is cut off', () => {
    assert.deepEqual(sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), { format: 'jpeg', mimeType: 'image/jpeg' });
  });
});
