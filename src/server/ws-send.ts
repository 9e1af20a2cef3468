import { WebSocket } from 'ws';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import { toError } from '../util/errors.js';

const BINARY = { binary: true };
const TEXT = { binary: false };

/**
 * One client's frame writes. Its subscriber slot has at most one write in flight, so one
 * bound write callback serves them all: a frame costs this client no closure and no promise.
 * A Buffer sent with `binary: false` goes out as a text frame without being re-encoded.
 */
export class WsFrameWriter {
  #done: DeliveryDone | undefined;
  #bytes = 0;

  constructor(private readonly ws: WebSocket) {}

  send(data: Buffer | string, binary: boolean, done: DeliveryDone): void {
    if (this.ws.readyState !== WebSocket.OPEN) return done(new Error('socket is not open'), 0);
    this.#done = done;
    this.#bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.ws.send(data, binary ? BINARY : TEXT, this.#written);
  }

  /** Sends what `data` resolves to (an encode still running); a rejection ends the delivery as failed. */
  sendWhenReady(data: Promise<Buffer | string>, binary: boolean, done: DeliveryDone): void {
    data.then((ready) => this.send(ready, binary, done), (error: unknown) => done(toError(error), 0));
  }

  readonly #written = (error?: Error): void => {
    const done = this.#done;
    this.#done = undefined;
    done?.(error, this.#bytes);
  };
}

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
