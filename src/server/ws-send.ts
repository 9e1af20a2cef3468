import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import type { SharedFrame } from './shared-frame.js';

/**
 * One client's frame writes: whole WebSocket frames (SharedFrame, built once per variant) written
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
  /** The frame of a write the kernel did not take at once, held until the write completes. */
  #held: SharedFrame | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** The connection's socket (the upgrade request's), which `ws` reads from and writes to. */
    private readonly socket: Duplex,
  ) {}

  /**
   * Queues one whole WebSocket frame; `done` ends the delivery. The frame is held from here
   * until the kernel has the bytes, so its memory is not reused under a write. Call it in the
   * same task that got the frame from its variant: a frame retired in between (its variant
   * evicted) may already be back in the pool.
   */
  send(frame: SharedFrame, done: DeliveryDone): void {
    frame.hold();
    // The socket's state is checked when the write is made, so queueing does not touch it.
    this.#done = done;
    // The data waits in the queue, not in this long-lived object (see SubscriberSlot.offer).
    if (queued.push(this, frame) === 2) queueMicrotask(WsFrameWriter.#flushQueued);
  }

  static #flushQueued(this: void): void {
    // A fresh queue for writers queued by a write callback during this run (the next microtask).
    const batch = queued;
    queued = [];
    for (let i = 0; i < batch.length; i += 2) (batch[i] as WsFrameWriter).#write(batch[i + 1] as SharedFrame);
  }

  #write(frame: SharedFrame): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      frame.release();
      return this.#written(new Error('socket is not open'));
    }
    this.#bytes = frame.bytes.length;
    this.socket.write(frame.bytes, this.#written);
    // Nothing left in the stream's buffer: the kernel took the whole frame during the call, and
    // nothing refers to the bytes any more. Else the stream (or the write queued behind one of
    // ws's own messages) refers to them until the write callback. A slot has one write in
    // flight, so one field holds it.
    if (this.socket.writableLength === 0) frame.release();
    else this.#held = frame;
  }

  readonly #written = (error?: Error | null): void => {
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      held.release();
    }
    const done = this.#done;
    this.#done = undefined;
    done?.(error ?? undefined, this.#bytes); // the stream passes null on success
  };
}

/** Writers with a frame to send at the end of the current task, each followed by its frame. */
let queued: (WsFrameWriter | SharedFrame)[] = [];

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
