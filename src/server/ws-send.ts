import { WebSocket } from 'ws';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import { toError } from '../util/errors.js';

const BINARY = { binary: true };
const TEXT = { binary: false };

/**
 * One client's frame writes. Its subscriber slot has at most one write in flight, so one
 * bound write callback serves them all: a frame costs this client no closure and no promise.
 * A Buffer sent with `binary: false` goes out as a text frame without being re-encoded.
 *
 * A write waits for the end of the current task (one microtask for all writers), then all go
 * out back to back: a frame's fan-out first runs every subscriber's slot and variant lookup,
 * then makes its socket writes in one run, as a bare broadcast loop does. Interleaved, the
 * per-client work between two writes let the readers drain and go to sleep, and each write
 * paid for more wake-ups (docs/benchmarks.md, "Writes after the fan-out").
 */
export class WsFrameWriter {
  #binary = true;
  #done: DeliveryDone | undefined;
  #bytes = 0;

  constructor(private readonly ws: WebSocket) {}

  send(data: Buffer | string, binary: boolean, done: DeliveryDone): void {
    // The socket's state is checked when the write is made, so queueing does not touch it.
    this.#binary = binary;
    this.#done = done;
    // The data waits in the queue, not in this long-lived object (see SubscriberSlot.offer).
    if (queued.push(this, data) === 2) queueMicrotask(WsFrameWriter.#flushQueued);
  }

  /** Sends what `data` resolves to (an encode still running); a rejection ends the delivery as failed. */
  sendWhenReady(data: Promise<Buffer | string>, binary: boolean, done: DeliveryDone): void {
    data.then((ready) => this.send(ready, binary, done), (error: unknown) => done(toError(error), 0));
  }

  static #flushQueued(this: void): void {
    // A fresh queue for writers queued by a write callback during this run (the next microtask).
    const batch = queued;
    queued = [];
    for (let i = 0; i < batch.length; i += 2) (batch[i] as WsFrameWriter).#write(batch[i + 1] as Buffer | string);
  }

  #write(data: Buffer | string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return this.#written(new Error('socket is not open'));
    this.#bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.ws.send(data, this.#binary ? BINARY : TEXT, this.#written);
  }

  readonly #written = (error?: Error | null): void => {
    const done = this.#done;
    this.#done = undefined;
    done?.(error ?? undefined, this.#bytes); // the stream passes null on success
  };
}

/** Writers with a frame to send at the end of the current task, each followed by its data. */
let queued: (WsFrameWriter | Buffer | string)[] = [];

/**
 * Sends and resolves with the byte count once `ws` has handed the data to the socket (its
 * write callback), which is what lets a subscriber slot hold back the next frame.
 * A Buffer sent with `binary: false` goes out as a text frame without being re-encoded.
 */
export function wsSend(ws: WebSocket, data: Buffer | string, binary: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    if (ws.readyState !== WebSocket.OPEN) {
      reject(new Error('socket is not open'));
      return;
    }
    const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    ws.send(data, { binary }, (error) => (error ? reject(error) : resolve(length)));
  });
}

/** Sends a control message and ignores the outcome: the socket may be closing already. */
export function wsSendQuiet(ws: WebSocket, text: string): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(text, () => {});
}
