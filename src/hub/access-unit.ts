/**
 * One encoded picture of a video tier, shared by every viewer of that tier; what is derived
 * from it for the wire is memoised on it (built once, not once per viewer).
 */
export class AccessUnit {
  readonly #memo = new Map<string, unknown>();

  constructor(
    /** Length-prefixed NAL units (4-byte lengths), the form WebCodecs reads with an avcC description. */
    readonly data: Buffer,
    /** An IDR picture: decoding can start here. */
    readonly keyframe: boolean,
    /** Capture time of the source frame it encodes, ms since the epoch. */
    readonly capturedAt: number,
    /** The source frame's sequence number. */
    readonly seq: number,
    readonly width: number,
    readonly height: number,
    /** RFC 6381 codec string, e.g. `avc1.42C01F`. */
    readonly codec: string,
    /** The avcC decoder configuration; set on keyframes. */
    readonly config: Buffer | undefined,
  ) {}

  memo<T>(key: string, build: (unit: AccessUnit) => T): T {
    if (this.#memo.has(key)) return this.#memo.get(key) as T;
    const value = build(this);
    this.#memo.set(key, value);
    return value;
  }
}
