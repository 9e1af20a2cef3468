import { ErrorCode, FramehubError } from '../wire/errors.js';
import type { Frame } from '../sources/frame.js';
import type { Encoder } from './encoder.js';
import { effectiveQuality, passesThrough, specKey, targetSize, type VariantSpec } from './variant-spec.js';
import { ReaderDemand } from './reader-demand.js';
import { MIME_TYPES, type ImageFormat } from '../image/sniff.js';

/**
 * A frame's bytes in one format/quality/size. Strings and wire messages derived from it are
 * memoised on it, so base64 and JSON are built once per variant, not once per client.
 */
export class Variant {
  readonly #memo = new Map<string, unknown>();
  /** Disposers of memoised values that hold something to give back (pooled memory). */
  #disposers: (() => void)[] | undefined;

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

  /**
   * Builds a derived value once; later calls (any client, any protocol) get the same one.
   * `dispose` runs when the variant cache lets the variant go (`release`).
   */
  memo<T>(key: string, build: (variant: Variant) => T, dispose?: (value: T) => void): T {
    if (this.#memo.has(key)) return this.#memo.get(key) as T;
    const value = build(this);
    this.#memo.set(key, value);
    if (dispose) (this.#disposers ??= []).push(() => dispose(value));
    return value;
  }

  /**
   * The variant cache no longer hands this variant out: disposes the memoised values and
   * forgets them. Someone still holding the variant (an encode that finished late) builds
   * them afresh if it asks again, and those are not disposed.
   */
  release(): void {
    const disposers = this.#disposers;
    this.#disposers = undefined;
    this.#memo.clear();
    if (disposers) for (const dispose of disposers) dispose();
  }

  base64(): string {
    return this.memo('base64', (v) => v.bytes.toString('base64'));
  }

  dataUrl(): string {
    return this.memo('data-url', (v) => `data:${v.mimeType};base64,${v.base64()}`);
  }
}

/**
 * How many of a stream's newest frames keep their variants. Subscribers ask for the stream's
 * latest frame (a slot's pending frame is always the newest it was offered); the others cover
 * an encode or a screenshot that started just before the next frame came.
 */
const RECENT_FRAMES = 3;

/**
 * Computes each `(frame, spec)` variant at most once, however many subscribers and protocols
 * ask, and hands back the source's bytes when they already match the spec.
 */
export class VariantCache {
  /**
   * The newest frames' variants, newest (highest seq) first. Not a WeakMap keyed by frame:
   * V8 keeps ephemeron tables in the old generation, and one entry per frame made a server
   * under load run a full mark-compact every ~4 s, a measurable part of its fan-out cost
   * (docs/benchmarks.md, "The variant cache without a WeakMap").
   */
  readonly #recent: FrameVariants[] = [];
  /** Encodes actually run, for stats and tests. */
  encodes = 0;
  /** The last variant `peek` found, by frame and spec object. */
  #hitFrame: Frame | undefined;
  #hitSpec: VariantSpec | undefined;
  #hitVariant: Variant | undefined;

  /** Distinct specs subscribers hold now (`claim`), by key, with how many hold each. */
  readonly #claimed = new Map<string, number>();

  constructor(
    private readonly encoder: Encoder,
    /** Overlay text for `osd` variants, read when the variant is encoded. */
    private readonly osdText: (frame: Frame) => string,
    /** The stream's readers' demand: a claimed spec is a reader's need (of pixels, a size, a quality) while it is held. */
    readonly demand: ReaderDemand = new ReaderDemand(),
  ) {}

  /**
   * Registers a subscriber's spec; the returned function gives it back. A stream encodes each
   * distinct spec once per frame, so distinct specs are bounded: past MAX_VARIANTS a new spec is
   * refused with a VariantLimitError (the client keeps what it had and may ask for one in use).
   * While held, the spec is one of the readers' needs in `demand`.
   */
  claim(spec: VariantSpec): () => void {
    const key = specKey(spec);
    const holders = this.#claimed.get(key) ?? 0;
    if (holders === 0 && this.#claimed.size >= MAX_VARIANTS) throw new VariantLimitError(MAX_VARIANTS);
    this.#claimed.set(key, holders + 1);
    const unneed = this.demand.hold({ kind: 'variant', spec });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      unneed();
      const left = this.#claimed.get(key)! - 1;
      if (left === 0) this.#claimed.delete(key);
      else this.#claimed.set(key, left);
    };
  }

  /** Distinct specs subscribers hold now. */
  get claimedSpecs(): number {
    return this.#claimed.size;
  }

  get(frame: Frame, spec: VariantSpec): Promise<Variant> {
    return this.#entry(frame, spec).promise;
  }

  /**
   * The variant if it is ready now (pass-through, or an encode that finished), else
   * `undefined`: lets the per-client delivery path skip a promise round trip for the common
   * case of a variant another client already asked for.
   */
  peek(frame: Frame, spec: VariantSpec): Variant | undefined {
    // Subscribers with equal options share one spec object (sharedSpec), so during a fan-out
    // every client after the first is answered here, by identity.
    if (frame === this.#hitFrame && spec === this.#hitSpec) return this.#hitVariant;
    const ready = this.#entry(frame, spec).ready;
    if (ready) {
      this.#hitFrame = frame;
      this.#hitSpec = spec;
      this.#hitVariant = ready;
    }
    return ready;
  }

  #entry(frame: Frame, spec: VariantSpec): VariantEntry {
    const osd = spec.osd === true;
    const passthrough = passesThrough(frame, spec, frame.raw !== undefined);
    // Normalised key: specs that produce the same bytes share one entry.
    let key = 'source';
    if (!passthrough) {
      const size = targetSize(frame.width, frame.height, spec);
      key = `${spec.format}:${effectiveQuality(spec) ?? ''}:${size.width}x${size.height}:${osd ? 'osd' : ''}`;
    }
    const variants = this.#variantsOf(frame);
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

  /** Forgets every variant (the stream stopped: its frames are gone). */
  clear(): void {
    for (const recent of this.#recent.splice(0)) releaseAll(recent);
    this.#hitFrame = this.#hitSpec = this.#hitVariant = undefined;
  }

  #variantsOf(frame: Frame): Map<string, VariantEntry> {
    let at = 0;
    for (; at < this.#recent.length; at++) {
      const recent = this.#recent[at]!;
      if (recent.frame === frame) return recent.variants;
      if (recent.frame.seq < frame.seq) break;
    }
    // Kept in seq order; a frame older than every kept one while the list is full is served
    // but not kept (it may cost a second encode if asked for again, never a stale variant).
    const variants = new Map<string, VariantEntry>();
    this.#recent.splice(at, 0, { frame, variants });
    if (this.#recent.length > RECENT_FRAMES) {
      for (const evicted of this.#recent.splice(RECENT_FRAMES)) {
        // The last answer of `peek` must not outlive the variant it points to.
        if (evicted.frame === this.#hitFrame) this.#hitFrame = this.#hitSpec = this.#hitVariant = undefined;
        releaseAll(evicted);
      }
    }
    return variants;
  }

  async #encode(frame: Frame, spec: VariantSpec, osd: boolean): Promise<Variant> {
    this.encodes++;
    const out = await this.encoder.encode(frame, spec, osd ? this.osdText(frame) : undefined);
    return new Variant(frame, out.bytes, spec.format, out.width, out.height, false);
  }
}

/** Distinct specs a stream's subscribers may hold at once (see `VariantCache.claim`). */
export const MAX_VARIANTS = 16;

/** A subscriber asked for a new spec while its stream already serves MAX_VARIANTS. */
export class VariantLimitError extends FramehubError {
  override readonly name = 'VariantLimitError';
  constructor(readonly max: number) {
    super(ErrorCode.TooManyVariants, `this stream already serves ${max} different formats, qualities and sizes; ask for one in use`);
  }
}

export { effectiveQuality } from './variant-spec.js';


/**
 * Releases a frame's finished variants. One still encoding is left alone: whoever awaits it
 * gets it, and what is memoised on it is never disposed (so never pooled, only collected).
 */
function releaseAll({ variants }: FrameVariants): void {
  for (const entry of variants.values()) entry.ready?.release();
}

interface FrameVariants {
  readonly frame: Frame;
  /** By normalised spec key. */
  readonly variants: Map<string, VariantEntry>;
}

interface VariantEntry {
  readonly promise: Promise<Variant>;
  /** Set once the variant exists. */
  ready: Variant | undefined;
}
