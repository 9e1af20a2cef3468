import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import { toError } from '../util/errors.js';

/**
 * One client's frame writes: whole WebSocket frames (wsFrame, built once per variant) written
 * to the client's socket, beside `ws`, which keeps the socket for everything else (reading,
 * pings, close). A frame is written only while the WebSocket is open, so nothing follows a
 * close frame, and always whole, so it never splits one of `ws`'s messages (permessage-deflate
 * is off on framehub's server, so `ws` never holds a message back in a queue of its own).
 * Its subscriber slot has at most one write in flight, so one bound write callback serves
 * them all: a frame costs this client no closure and no promise.
 *
 * A write waits for the end of the current task (one microtask for all writers), then all go
 * out back to back: a frame's fan-out first runs every subscriber's slot and variant lookup,
 * then makes its socket writes in one run, as a bare broadcast loop does. Interleaved, the
 * per-client work between two writes let the readers drain and go to sleep, and each write
 * paid for more wake-ups (docs/benchmarks.md, "Writes after the fan-out").
 */
export class WsFrameWriter {
  #done: DeliveryDone | undefined;
  #bytes = 0;

  constructor(
    private readonly ws: WebSocket,
    /** The connection's socket (the upgrade request's), which `ws` reads from and writes to. */
    private readonly socket: Duplex,
  ) {}

  /** Queues one whole WebSocket frame (wsFrame); `done` ends the delivery. */
  send(frame: Buffer, done: DeliveryDone): void {
    // The socket's state is checked when the write is made, so queueing does not touch it.
    this.#done = done;
    // The data waits in the queue, not in this long-lived object (see SubscriberSlot.offer).
    if (queued.push(this, frame) === 2) queueMicrotask(WsFrameWriter.#flushQueued);
  }

  /** Sends what `frame` resolves to (an encode still running); a rejection ends the delivery as failed. */
  sendWhenReady(frame: Promise<Buffer>, done: DeliveryDone): void {
    frame.then((ready) => this.send(ready, done), (error: unknown) => done(toError(error), 0));
  }

  static #flushQueued(this: void): void {
    // A fresh queue for writers queued by a write callback during this run (the next microtask).
    const batch = queued;
    queued = [];
    for (let i = 0; i < batch.length; i += 2) (batch[i] as WsFrameWriter).#write(batch[i + 1] as Buffer);
  }

  #write(frame: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return this.#written(new Error('socket is not open'));
    this.#bytes = frame.length;
    this.socket.write(frame, this.#written);
  }

  readonly #written = (error?: Error | null): void => {
    const done = this.#done;
    this.#done = undefined;
    done?.(error ?? undefined, this.#bytes); // the stream passes null on success
  };
}

/** Writers with a frame to send at the end of the current task, each followed by its frame. */
let queued: (WsFrameWriter | Buffer)[] = [];

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
