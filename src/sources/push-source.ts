import { preciseNow } from '../util/clock.js';
import { sniffImage } from '../image/sniff.js';
import { Source } from './source.js';

/**
 * A live stream fed from outside: whoever holds it calls `push(bytes)` (the ComfyUI bridge
 * with its previews). Frames pushed while no one watches are dropped, as for every live
 * source: the stream starts it when the first subscriber arrives.
 */
export class PushSource extends Source {
  readonly kind = 'push';
  #running = false;
  /** Frames pushed, taken, and refused because they were no image. */
  readonly counters = { pushed: 0, emitted: 0, rejected: 0 };

  async start(): Promise<void> {
    this.#running = true;
  }

  async stop(): Promise<void> {
    this.#running = false;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Hands an encoded image to the stream; returns `false` when it was not a PNG, JPEG, WebP or GIF. */
  push(bytes: Buffer, meta?: Record<string, unknown>): boolean {
    this.counters.pushed++;
    const info = sniffImage(bytes);
    if (!info || info.format === 'gif' || !info.width || !info.height) {
      this.counters.rejected++;
      return false;
    }
    if (!this.#running) return true;
    this.counters.emitted++;
    this.emit('frame', { bytes, format: info.format, width: info.width, height: info.height, capturedAt: preciseNow(), ...(meta && { meta }) });
    return true;
  }

  /** Tells subscribers what the producer behind it is doing (e.g. "ComfyUI disconnected"). */
  status(message: string): void {
    this.emit('status', message);
  }
}
