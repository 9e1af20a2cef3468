import sharp from 'sharp';

/** Rows per band: a multiple of every JPEG MCU height (8 or 16), so bands end on MCU rows. */
export const BAND_ROWS = 64;

const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);
const RST = Array.from({ length: 8 }, (_, i) => Buffer.from([0xff, 0xd0 + i]));

/**
 * A baseline JPEG put together from horizontal bands encoded one by one (issue 20: a picture
 * whose bands repeat need not be encoded whole every frame).
 *
 * The file declares a restart interval of exactly one band (DRI), so every band's entropy-coded
 * data starts from reset DC predictors and ends byte-aligned, padded with 1 bits: which is
 * what a band encoded as an image of its own is. A band's bytes are therefore the same
 * wherever it sits, and the caller may keep them and reuse them. Bands are encoded by sharp
 * with Huffman optimisation off (the standard tables) and the same quality, so every band shares
 * the tables; each band's header is checked against the first one's all the same.
 */
export class BandJpeg {
  readonly width: number;
  readonly height: number;
  readonly quality: number;
  /** The file's header (SOI … SOS) with the full height and the DRI segment, once a band has been seen. */
  #header: Buffer | undefined;
  /** The first band's tables, to compare every later band's against. */
  #tables: Buffer | undefined;

  constructor(width: number, height: number, quality: number) {
    this.width = width;
    this.height = height;
    this.quality = quality;
  }

  get bandCount(): number {
    return Math.ceil(this.height / BAND_ROWS);
  }

  /** Encodes band `index` of a raw RGB picture of this size and returns its entropy-coded data. */
  async encodeBand(rgb: Buffer, index: number): Promise<Buffer> {
    const stride = this.width * 3;
    const top = index * BAND_ROWS;
    const rows = Math.min(BAND_ROWS, this.height - top);
    const jpeg = await sharp(rgb.subarray(top * stride, (top + rows) * stride), { raw: { width: this.width, height: rows, channels: 3 } })
      .jpeg({ quality: this.quality, optimiseCoding: false })
      .toBuffer();
    return this.#entropyData(jpeg);
  }

  /** The whole file from every band's entropy-coded data, top to bottom. */
  assemble(bands: readonly Buffer[]): Buffer {
    if (!this.#header) throw new Error('BandJpeg: no band encoded yet');
    if (bands.length !== this.bandCount) throw new Error(`BandJpeg: ${bands.length} bands for a picture of ${this.bandCount}`);
    const parts: Buffer[] = [this.#header];
    for (let i = 0; i < bands.length; i++) {
      if (i > 0) parts.push(RST[(i - 1) % 8]!);
      parts.push(bands[i]!);
    }
    parts.push(EOI);
    return Buffer.concat(parts);
  }

  /** Splits a band's JPEG into header and scan data; builds the file header from the first one. */
  #entropyData(jpeg: Buffer): Buffer {
    if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('BandJpeg: not a JPEG');
    let at = 2;
    const segments: Buffer[] = [];
    let sof: Buffer | undefined;
    for (;;) {
      if (at + 4 > jpeg.length || jpeg[at] !== 0xff) throw new Error('BandJpeg: malformed JPEG header');
      const marker = jpeg[at + 1]!;
      const length = jpeg.readUInt16BE(at + 2);
      const segment = jpeg.subarray(at, at + 2 + length);
      at += 2 + length;
      if (marker === 0xda) {
        segments.push(segment);
        break;
      }
      // Progressive, lossless or arithmetic coding, or a restart interval of its own: not bands we can stack.
      if ((marker >= 0xc1 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xdd) {
        throw new Error(`BandJpeg: unexpected marker 0x${marker.toString(16)}`);
      }
      if (marker === 0xc0) sof = segment;
      segments.push(segment);
    }
    if (!sof || sof[9] !== 3) throw new Error('BandJpeg: expected a baseline three-component JPEG');
    if (jpeg[jpeg.length - 2] !== 0xff || jpeg[jpeg.length - 1] !== 0xd9) throw new Error('BandJpeg: no EOI');
    // Tables and sampling of this band, with its own height blanked out: the same for every band.
    const tables = Buffer.concat(segments.map((s) => (s === sof ? Buffer.concat([s.subarray(0, 5), s.subarray(7)]) : s)));
    if (!this.#tables) {
      this.#tables = tables;
      this.#header = this.#fileHeader(segments, sof);
    } else if (!tables.equals(this.#tables)) {
      throw new Error('BandJpeg: a band was encoded with other tables');
    }
    return jpeg.subarray(at, jpeg.length - 2);
  }

  #fileHeader(segments: Buffer[], sof: Buffer): Buffer {
    // MCU size from the largest sampling factors (component specs: id, HxV, table, from byte 10).
    let maxH = 1;
    let maxV = 1;
    for (let c = 0; c < 3; c++) {
      const sampling = sof[11 + c * 3]!;
      maxH = Math.max(maxH, sampling >> 4);
      maxV = Math.max(maxV, sampling & 0x0f);
    }
    const mcusPerBand = Math.ceil(this.width / (8 * maxH)) * (BAND_ROWS / (8 * maxV));
    if (mcusPerBand > 0xffff) throw new Error('BandJpeg: picture too wide for one band per restart interval');
    const fullSof = Buffer.from(sof);
    fullSof.writeUInt16BE(this.height, 5);
    const dri = Buffer.from([0xff, 0xdd, 0x00, 0x04, mcusPerBand >> 8, mcusPerBand & 0xff]);
    const parts: Buffer[] = [SOI];
    for (const segment of segments) {
      if (segment[1] === 0xda) parts.push(dri);
      parts.push(segment === sof ? fullSof : segment);
    }
    return Buffer.concat(parts);
  }
}
