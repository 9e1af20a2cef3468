/**
 * Splits a byte stream of concatenated JPEG images (ffmpeg's `-f mjpeg` on a pipe) into one
 * Buffer per image.
 *
 * It walks the JPEG marker structure instead of searching for FF D9 blindly: segment lengths are
 * skipped (an EXIF thumbnail's own FF D9 cannot end a frame early) and in entropy-coded data only a
 * marker that is not a stuffed byte (FF 00) or a restart (FF D0-D7) ends the scan. A frame that
 * lies in one chunk is a view of that chunk (no copy); a frame that spans chunks is concatenated
 * once. Nothing else is copied and nothing is held beyond the frame being assembled.
 */

type State =
  | 'soi-ff' // before a frame: looking for FF
  | 'soi-d8' // saw FF, expecting D8
  | 'marker-ff' // inside a frame: expecting the FF of the next marker
  | 'marker-code' // saw FF: next byte is the marker code (FF = fill byte)
  | 'length-hi'
  | 'length-lo'
  | 'skip' // skipping a segment's payload
  | 'entropy' // scan data: looking for FF
  | 'entropy-ff'; // scan data: saw FF

/** JPEG markers with no length field: TEM, RST0-7, SOI, EOI. */
function isStandalone(code: number): boolean {
  return code === 0x01 || (code >= 0xd0 && code <= 0xd9);
}

export interface MjpegSplitterOptions {
  /** Largest frame accepted; a longer one is dropped as garbage (a broken stream must not grow memory). @default 32 MiB */
  maxFrameBytes?: number;
}

export class MjpegSplitter {
  readonly #onFrame: (jpeg: Buffer) => void;
  readonly #maxFrameBytes: number;
  #state: State = 'soi-ff';
  /** Pieces of the frame being assembled: earlier chunks' tails, whole middle chunks. */
  #parts: Buffer[] = [];
  #partsLength = 0;
  #length = 0;
  #skip = 0;
  #afterSos = false;
  /** Frames dropped for being too long or malformed. */
  dropped = 0;

  constructor(onFrame: (jpeg: Buffer) => void, options: MjpegSplitterOptions = {}) {
    this.#onFrame = onFrame;
    this.#maxFrameBytes = options.maxFrameBytes ?? 32 * 1024 * 1024;
  }

  /** Feeds the next chunk of the stream; calls `onFrame` for each image completed in it. */
  push(chunk: Buffer): void {
    // Start of the current frame inside this chunk; -1 while it began in an earlier chunk (its
    // earlier pieces are in #parts) or no frame is open.
    let start = -1;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.#state) {
        case 'soi-ff': {
          const at = chunk.indexOf(0xff, i);
          if (at < 0) { i = n; break; }
          i = at + 1;
          this.#state = 'soi-d8';
          break;
        }
        case 'soi-d8': {
          const b = chunk[i]!;
          if (b === 0xd8) {
            start = this.#openAt(i - 1);
            this.#state = 'marker-ff';
            this.#afterSos = false;
            i++;
          } else {
            this.#state = b === 0xff ? 'soi-d8' : 'soi-ff';
            i++;
          }
          break;
        }
        case 'marker-ff': {
          if (chunk[i] !== 0xff) {
            // Not a marker where one must be: the frame is corrupt; resynchronise on the next SOI.
            this.#abandon();
            start = -1;
            this.#state = 'soi-ff';
            break;
          }
          this.#state = 'marker-code';
          i++;
          break;
        }
        case 'marker-code': {
          const code = chunk[i++]!;
          if (code === 0xff) break; // fill byte
          if (code === 0xd9) {
            this.#emit(chunk, start, i);
            start = -1;
            this.#state = 'soi-ff';
          } else if (code === 0xd8) {
            // A new SOI before EOI: the previous image was cut off. Start over from here.
            this.#abandon();
            start = this.#openAt(i - 2);
            this.#afterSos = false;
            this.#state = 'marker-ff';
          } else if (isStandalone(code)) {
            this.#state = this.#afterSos ? 'entropy' : 'marker-ff';
          } else {
            this.#afterSos = code === 0xda;
            this.#state = 'length-hi';
          }
          break;
        }
        case 'length-hi':
          this.#length = chunk[i++]! << 8;
          this.#state = 'length-lo';
          break;
        case 'length-lo':
          this.#length |= chunk[i++]!;
          this.#skip = this.#length - 2;
          this.#state = this.#skip > 0 ? 'skip' : this.#afterSos ? 'entropy' : 'marker-ff';
          break;
        case 'skip': {
          const take = Math.min(this.#skip, n - i);
          this.#skip -= take;
          i += take;
          if (this.#skip === 0) this.#state = this.#afterSos ? 'entropy' : 'marker-ff';
          break;
        }
        case 'entropy': {
          const at = chunk.indexOf(0xff, i);
          if (at < 0) { i = n; break; }
          i = at + 1;
          this.#state = 'entropy-ff';
          break;
        }
        case 'entropy-ff': {
          const b = chunk[i]!;
          if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) {
            i++;
            this.#state = 'entropy';
          } else if (b === 0xff) {
            i++;
          } else {
            // A real marker ends the scan (EOI, or DHT/SOS of the next progressive scan).
            this.#afterSos = false;
            this.#state = 'marker-code';
          }
          break;
        }
      }
    }
    if (this.#state !== 'soi-ff' && this.#state !== 'soi-d8') {
      // The frame goes on in the next chunk: keep this chunk's part of it (a view, not a copy).
      this.#keep(start >= 0 ? chunk.subarray(start) : chunk);
    }
  }

  /** Opens a frame whose FF D8 starts at `at`; FF D8 may straddle two chunks (then `at` is -1). */
  #openAt(at: number): number {
    if (at >= 0) return at;
    this.#parts = [Buffer.from([0xff])];
    this.#partsLength = 1;
    return 0;
  }

  /** Forgets a partial frame (e.g. after the process behind the stream restarted). */
  reset(): void {
    this.#abandon();
    this.#state = 'soi-ff';
  }

  #keep(part: Buffer): void {
    this.#parts.push(part);
    this.#partsLength += part.length;
    if (this.#partsLength > this.#maxFrameBytes) {
      this.#abandon();
      this.#state = 'soi-ff';
    }
  }

  #emit(chunk: Buffer, start: number, end: number): void {
    let frame: Buffer;
    if (start >= 0 && this.#parts.length === 0) {
      frame = chunk.subarray(start, end);
    } else {
      const tail = chunk.subarray(start >= 0 ? start : 0, end);
      frame = Buffer.concat([...this.#parts, tail], this.#partsLength + tail.length);
    }
    this.#parts = [];
    this.#partsLength = 0;
    if (frame.length > this.#maxFrameBytes) {
      this.dropped++;
      return;
    }
    this.#onFrame(frame);
  }

  #abandon(): void {
    if (this.#state !== 'soi-ff' && this.#state !== 'soi-d8') this.dropped++;
    this.#parts = [];
    this.#partsLength = 0;
  }
}
