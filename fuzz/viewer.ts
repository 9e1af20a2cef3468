import { once } from 'node:events';
import { WebSocket, type RawData } from 'ws';

/**
 * The viewer that watches `/stream/0` for the whole run, asking for the stream's own fps:
 * whatever the fuzzer does to other routes, it must keep ≥ 95 % of those frames.
 */
export class Viewer {
  frames = 0;
  #firstAt = 0;
  closedAt: number | undefined;
  closed: { code: number; reason: string } | undefined;

  private constructor(
    readonly ws: WebSocket,
    readonly fps: number,
  ) {
    ws.on('message', this.#socketOnMessage);
    ws.on('close', this.#socketOnClose);
  }

  static async open(wsBase: string, fps: number): Promise<Viewer> {
    const ws = new WebSocket(`${wsBase}/stream/0?fps=${fps}`, { perMessageDeflate: false });
    ws.on('error', function viewerOnError() {
      // A failure shows as the close (code 1006) the viewer records.
    });
    const viewer = new Viewer(ws, fps);
    await once(ws, 'open');
    return viewer;
  }

  /** Resolves at the first frame, or rejects after `ms`. */
  async firstFrame(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.frames === 0) {
      if (Date.now() > deadline || this.closed) throw new Error(`no frame within ${ms} ms${this.closed ? ` (closed ${this.closed.code})` : ''}`);
      await new Promise((resolve) => setTimeout(resolve, 20)); // a frame count has no event of its own here
    }
  }

  /** Frames per second received from the first frame until now, as a share of the asked-for fps. */
  get kept(): number {
    const seconds = this.seconds;
    if (seconds <= 0) return 0;
    return (this.frames - 1) / seconds / this.fps;
  }

  get measuredFps(): number {
    return this.kept * this.fps;
  }

  /** Seconds since the first frame (the viewer's clock stops when it closes). */
  get seconds(): number {
    if (this.frames === 0) return 0;
    return ((this.closedAt ?? performance.now()) - this.#firstAt) / 1000;
  }

  close(): void {
    this.closedAt ??= performance.now();
    this.ws.close();
  }

  readonly #socketOnMessage = (data: RawData, isBinary: boolean): void => {
    if (isBinary) return;
    const text = data.toString();
    if (!text.startsWith('{"type":"frame"')) return;
    const now = performance.now();
    if (this.frames === 0) this.#firstAt = now;
    this.frames++;
  };

  readonly #socketOnClose = (code: number, reason: Buffer): void => {
    this.closed = { code, reason: reason.toString() };
    this.closedAt ??= performance.now();
  };
}
