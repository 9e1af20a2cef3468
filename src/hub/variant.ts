import type { Frame } from './frame.js';
import type { Encoder } from './encoder.js';
import { targetSize, type VariantSpec } from './variant-spec.js';
import { MIME_TYPES, type ImageFormat } from '../image/sniff.js';

/**
 * A frame's bytes in one format/quality/size. Strings and wire messages derived from it are
 * memoised on it, so base64 and JSON are built once per variant, not once per client.
 */
export class Variant {
  readonly #memo = new Map<string, unknown>();

  constructor(
    readonly frame: Frame,
    readonly bytes: Buffer,
    readonly format: ImageFormat,
    readonly width: number,
    readonly height: number,
    /** `true` when `bytes` are the source's own, untouched. */
    readonly passthrough: boolean,
  ) {}

  get mimeType(): string {
    return MIME_TYPES[this.format];
  }

  /** Builds a derived value once; later calls (any client, any protocol) get the same one. */
  memo<T>(key: string, build: (variant: Variant) => T): T {
    if (this.#memo.has(key)) return this.#memo.get(key) as T;
    const value = build(this);
    this.#memo.set(key, value);
    return value;
  }

  base64(): string {
    return this.memo('base64', (v) => v.bytes.toString('base64'));
  }

  dataUrl(): string {
    return this.memo('data-url', (v) => `data:${v.mimeType};base64,${v.base64()}`);
  }
}

/**
 * Computes each `(frame, spec)` variant at most once, however many subscribers and protocols
 * ask, and hands back the source's bytes when they already match the spec.
 */
export class VariantCache {
  /** Keyed weakly by frame: variants die with the frame they were made from. */
  readonly #byFrame = new WeakMap<Frame, Map<string, VariantEntry>>();
  /** Encodes actually run, for stats and tests. */
  encodes = 0;

  constructor(
    private readonly encoder: Encoder,
    /** Overlay text for `osd` variants, read when the variant is encoded. */
    private readonly osdText: (frame: Frame) => string,
  ) {}

  get(frame: Frame, spec: VariantSpec): Promise<Variant> {
    return this.#entry(frame, spec).promise;
  }

  /**
   * The variant if it is ready now (pass-through, or an encode that finished), else
   * `undefined`: lets the per-client delivery path skip a promise round trip for the common
   * case of a variant another client already asked for.
   */
  peek(frame: Frame, spec: VariantSpec): Variant | undefined {
    return this.#entry(frame, spec).ready;
  }

  #entry(frame: Frame, spec: VariantSpec): VariantEntry {
    const size = targetSize(frame.width, frame.height, spec);
    const resized = size.width !== frame.width || size.height !== frame.height;
    const osd = spec.osd === true;
    const passthrough = !resized && !osd && spec.format === frame.format && spec.quality === frame.quality;
    // Normalised key: specs that produce the same bytes share one entry.
    const key = passthrough ? 'source' : `${spec.format}:${spec.quality}:${size.width}x${size.height}:${osd ? 'osd' : ''}`;
    let variants = this.#byFrame.get(frame);
    if (!variants) this.#byFrame.set(frame, (variants = new Map()));
    let entry = variants.get(key);
    if (!entry) {
      if (passthrough) {
        const ready = new Variant(frame, frame.bytes, frame.format, frame.width, frame.height, true);
        entry = { promise: Promise.resolve(ready), ready };
      } else {
        const encoding: VariantEntry = { promise: this.#encode(frame, spec, osd), ready: undefined };
        encoding.promise.then((variant) => { encoding.ready = variant; }, () => {});
        entry = encoding;
      }
      variants.set(key, entry);
    }
    return entry;
  }

  async #encode(frame: Frame, spec: VariantSpec, osd: boolean): Promise<Variant> {
    this.encodes++;
    const out = await this.encoder.encode(frame, spec, osd ? this.osdText(frame) : undefined);
    return new Variant(frame, out.bytes, spec.format, out.width, out.height, false);
  }
}

interface VariantEntry {
  readonly promise: Promise<Variant>;
  /** Set once the variant exists. */
  ready: Variant | undefined;
}
