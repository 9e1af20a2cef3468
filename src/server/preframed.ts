import type { Duplex } from 'node:stream';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import type { Server as SocketIoServer, Socket as SocketIoSocket } from 'socket.io';
import type { DeliveryDone } from '../hub/subscriber-slot.js';
import type { Variant } from '../hub/variant.js';

/**
 * The pre-framed fast path, for the WebSocket routes and for Socket.IO alike: a message is
 * framed once per variant, as the bytes of one whole WebSocket frame, and those same bytes are
 * written to every client that wants that variant. Per client a delivery costs one socket
 * write: no per-client framing, UTF-8 encoding or string concatenation (docs/benchmarks.md,
 * change 13: ~15 % shorter fan-out and ~0.5 ms lower p99 than `ws.send` per client).
 *
 * The framing itself is the libraries': `ws`'s `Sender.frame` writes the header, socket.io's
 * own encoder (`io.encoder`, socket.io-parser) the Socket.IO packet, and engine.io writes a
 * pre-framed packet with its own `wsPreEncodedFrame` option, the path socket.io-adapter's
 * broadcasts take. What this module adds is pooled memory for the frame and the writes.
 *
 * The contract, what a connection written this way must give:
 *
 * - **No permessage-deflate.** A frame written here is never compressed; with deflate
 *   negotiated, `ws` would compress its own messages asynchronously and one of them could be
 *   overtaken. Both framehub servers turn deflate off; `PreframedWriter` refuses a socket that
 *   negotiated it, and engine.io skips `wsPreEncodedFrame` on its own when deflate is on.
 * - **Whole frames, one at a time, only while open.** A frame is one `write` of whole bytes, so
 *   it never splits one of `ws`'s messages; `ws` writes its own (stats, errors, pings, close)
 *   straight to the same socket too, in call order, because with deflate off and no Blob ever
 *   sent its sender never queues. Nothing is written once `readyState` left OPEN, so nothing
 *   follows a close frame. A client has at most one frame write in flight (its subscriber
 *   slot waits for `done`).
 * - **Backpressure is the socket's.** The bytes go into the same Node stream `ws` writes to,
 *   so `ws.bufferedAmount` (the stream's `writableLength` plus what `ws`'s sender queued)
 *   counts a frame from the moment its write is made until the kernel has taken it, exactly as
 *   for `ws.send`. The one difference: `send` defers the write to the end of the current task
 *   (see PreframedWriter), and until then the frame is not in `bufferedAmount`. `done` runs in
 *   the write's callback, which is what paces the next frame. For Socket.IO engine.io makes
 *   the write itself (through `ws`'s sender, `sendFrame`), so the underlying `ws` counts the
 *   bytes the same way; before that the packet waits in engine.io's write buffer while the
 *   transport is busy, as any packet does. The write callback is engine.io's (the transport
 *   flushed the packet).
 * - **The memory is borrowed.** A pooled frame's bytes return to the pool when the variant let
 *   go of it (`retire`) and no write holds it (`hold`/`release`). A write whose callback never
 *   comes (engine.io drops them when the connection closes) keeps its hold: that memory then
 *   never returns to the pool and is left to the garbage collector, never handed to a new frame
 *   while a transport may still write it.
 */

/** Room in front of the payload for the longest header of an unmasked frame (RFC 6455 5.2). */
const MAX_HEADER = 10;

/**
 * engine.io's `message` packet type: what engine.io puts in front of every Socket.IO packet.
 * Written here, as socket.io-adapter does for its pre-framed broadcasts, rather than through
 * engine.io-parser's `encodePacket`: for a string that encoder is exactly this prefix, and
 * engine.io-parser is only a dependency of a dependency. Polling still goes through it
 * (engine.io encodes `data`).
 */
const ENGINE_IO_MESSAGE = '4';
/** socket.io-parser's `EVENT` packet type. */
const SOCKET_IO_EVENT = 2;

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
/**
 * `ws`'s own framing function (@types/ws does not declare it). Given a Buffer it returns the
 * header and that same Buffer, uncopied; the header goes in front of the payload here.
 */
const wsFrameHeader = (wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }).Sender.frame;
const TEXT: FrameOptions = { fin: true, opcode: 0x1, mask: false, readOnly: false, rsv1: false };
const BINARY: FrameOptions = { ...TEXT, opcode: 0x2 };

/**
 * Frames `payload` into `memory` (at least `MAX_HEADER` + its byte length long) and returns
 * the whole frame, a view of `memory`. The payload is written once, straight from the string
 * or Buffer, at `MAX_HEADER`; the header `ws` built goes right in front of it. Once per
 * variant, not per client: measured against the hand-written header this replaced, a 64 KiB
 * Buffer took 1.8 µs instead of 1.6 (`Sender.frame` allocates its header) and an 87 KB string
 * 22 µs instead of 48 (its UTF-8 length is counted once here, twice before).
 */
function writeFrame(memory: Buffer, payload: Buffer | string, binary: boolean): Buffer {
  const length = typeof payload === 'string' ? memory.write(payload, MAX_HEADER) : payload.copy(memory, MAX_HEADER);
  const header = wsFrameHeader(memory.subarray(MAX_HEADER, MAX_HEADER + length), binary ? BINARY : TEXT)[0]!;
  const start = MAX_HEADER - header.length;
  header.copy(memory, start);
  return memory.subarray(start, MAX_HEADER + length);
}

function byteLength(payload: Buffer | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

/**
 * One whole WebSocket frame shared by every client's write of one variant, in memory that goes
 * back to the pool once nothing can write it any more: the variant let go of it (`retire`,
 * when the variant cache evicts the frame) and no write holds it (`hold`/`release`).
 *
 * Why pooled: a live stream makes a new frame every ~33 ms, and without reuse each one leaves
 * a dead buffer of its size outside V8's heap. V8 counts such memory against the old
 * generation's headroom and starts full collections for it (docs/benchmarks.md, changes 13
 * and 14); reused memory counts once.
 */
export class Preframed {
  #holds = 0;
  #retired = false;
  #returned = false;

  constructor(
    /** The frame's bytes: what is written to each socket. */
    readonly bytes: Buffer,
    /** The pooled memory `bytes` lies in, or `undefined` when it is not the pool's. */
    private readonly memory?: Buffer,
    private readonly pool?: FramePool,
  ) {}

  /** A write will use the bytes: they stay this frame's until the matching `release`. */
  hold(): void {
    this.#holds++;
  }

  release(): void {
    this.#holds--;
    this.#giveBack();
  }

  /** No new write will take this frame; its memory returns once the last hold is released. */
  retire(): void {
    this.#retired = true;
    this.#giveBack();
  }

  /** Returned to the pool: test hook. */
  get returned(): boolean {
    return this.#returned;
  }

  #giveBack(): void {
    // Once only: memory put back twice would be handed to two frames at once.
    if (!this.#retired || this.#holds > 0 || this.#returned) return;
    this.#returned = true;
    if (this.memory !== undefined) this.pool?.put(this.memory);
  }
}

/** Frames smaller than this are not pooled: they cost the heap little, and a pool slot as much. */
const MIN_POOLED = 16 * 1024;
/** Nor larger ones: a few of them kept idle would be a lot of memory. */
const MAX_POOLED = 4 * 1024 * 1024;
/**
 * Free buffers kept, and their bytes at most. A stream's variant has three or four frames in
 * circulation (the variant cache keeps three) and needs a free one when the next frame comes;
 * the byte bound is what an idle server keeps after its streams stopped.
 */
const MAX_FREE = 4;
const MAX_FREE_BYTES = 8 * 1024 * 1024;
/**
 * New memory is this much larger than the frame (3 %, then whole KiB: under 5 % in all for a
 * frame of 64 KiB), so the next frames of a stream, a little larger or smaller, fit. Little,
 * because a client that stopped reading holds the whole buffer (docs/benchmarks.md, change 15).
 */
const SLACK = 1 / 32;

/**
 * Free memory for frames: a few buffers, handed out to frames of up to their size. Bounded in
 * count and bytes; a frame that finds nothing large enough gets new memory, rounded up so that
 * the next, slightly larger frame of the same stream still fits.
 */
export class FramePool {
  readonly #free: Buffer[] = [];
  #freeBytes = 0;

  /**
   * The whole WebSocket frame of one message: `payload` (a string counts in UTF-8 bytes and is
   * encoded straight into the frame) as a binary or text message, in pooled memory when it is
   * large enough to be worth it.
   */
  frame(payload: Buffer | string, binary: boolean): Preframed {
    const length = MAX_HEADER + byteLength(payload);
    if (length < MIN_POOLED || length > MAX_POOLED) return new Preframed(writeFrame(Buffer.allocUnsafe(length), payload, binary));
    const memory = this.#take(length);
    return new Preframed(writeFrame(memory, payload, binary), memory, this);
  }

  put(memory: Buffer): void {
    // Full: a larger buffer replaces the smallest, so frames that grew still find memory.
    let drop = -1;
    if (this.#free.length === MAX_FREE) {
      drop = 0;
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.length < this.#free[drop]!.length) drop = i;
      if (this.#free[drop]!.length >= memory.length) return;
    }
    const bytes = this.#freeBytes - (drop >= 0 ? this.#free[drop]!.length : 0) + memory.length;
    if (bytes > MAX_FREE_BYTES) return;
    if (drop >= 0) this.#free.splice(drop, 1);
    this.#free.push(memory);
    this.#freeBytes = bytes;
  }

  get freeCount(): number {
    return this.#free.length;
  }

  #take(length: number): Buffer {
    // The smallest free buffer that fits, and not one over twice the size: large ones stay
    // for large frames (several streams share the pool).
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const size = this.#free[i]!.length;
      if (size >= length && size <= 2 * length && (best < 0 || size < this.#free[best]!.length)) best = i;
    }
    if (best >= 0) {
      const memory = this.#free.splice(best, 1)[0]!;
      this.#freeBytes -= memory.length;
      return memory;
    }
    // Not from Node's shared slab: this memory is handed from frame to frame.
    return Buffer.allocUnsafeSlow(Math.ceil((length * (1 + SLACK)) / 1024) * 1024);
  }
}

/** Memory for the frames of every stream and every protocol, reused from frame to frame. */
const pool = new FramePool();

function retire(frame: { retire(): void }): void {
  frame.retire();
}

/**
 * `variant`'s message as one whole WebSocket frame, built once per variant and `key` (one key
 * per wire format), retired when the variant cache lets the variant go. Take it and write it
 * in the same task: a frame retired in between (its variant evicted) may be back in the pool.
 */
export function preframedMessage(variant: Variant, key: string, message: (variant: Variant) => Buffer | string, binary: boolean): Preframed {
  return variant.memo(key, (v) => pool.frame(message(v), binary), retire);
}

// --- WebSocket routes ---------------------------------------------------------------------

/**
 * One `ws` client's frame writes: whole frames written to the connection's socket beside
 * `ws`, which keeps the socket for everything else (reading, its own messages, pings, close).
 * The socket is the upgrade request's, the one `ws` writes to; `ws`'s `Sender.sendFrame`
 * would make the same single `write` but is private. See the contract above.
 *
 * A write waits for the end of the current task (one microtask for all writers), then all go
 * out back to back: a frame's fan-out first runs every subscriber's slot and variant lookup,
 * then makes its socket writes in one run, as a bare broadcast loop does. Interleaved, the
 * per-client work between two writes let the readers drain and go to sleep, and each write
 * paid for more wake-ups (docs/benchmarks.md, "Writes after the fan-out").
 * Its subscriber slot has at most one write in flight, so one bound write callback serves
 * them all: a frame costs this client no closure and no promise.
 */
export class PreframedWriter {
  #done: DeliveryDone | undefined;
  #bytes = 0;
  /** The frame of a write the kernel did not take at once, held until the write completes. */
  #held: Preframed | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** The connection's socket (the upgrade request's), which `ws` reads from and writes to. */
    private readonly socket: Duplex,
  ) {
    if (ws.extensions.includes('permessage-deflate')) throw new Error('pre-framed writes need permessage-deflate off');
  }

  /**
   * Queues one whole frame; `done` ends the delivery. The frame is held from here until the
   * kernel has the bytes, so its memory is not reused under a write.
   */
  send(frame: Preframed, done: DeliveryDone): void {
    frame.hold();
    // The socket's state is checked when the write is made, so queueing does not touch it.
    this.#done = done;
    // The data waits in the queue, not in this long-lived object (see SubscriberSlot.offer).
    if (queued.push(this, frame) === 2) queueMicrotask(PreframedWriter.#flushQueued);
  }

  static #flushQueued(this: void): void {
    // A fresh queue for writers queued by a write callback during this run (the next microtask).
    const batch = queued;
    queued = [];
    for (let i = 0; i < batch.length; i += 2) (batch[i] as PreframedWriter).#write(batch[i + 1] as Preframed);
  }

  #write(frame: Preframed): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      frame.release();
      return this.#written(new Error('socket is not open'));
    }
    this.#bytes = frame.bytes.length;
    this.socket.write(frame.bytes, this.#written);
    // Nothing left in the stream's buffer: the kernel took the whole frame during the call, and
    // nothing refers to the bytes any more. Else the stream refers to them until the write
    // callback. A slot has one write in flight, so one field holds it.
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
let queued: (PreframedWriter | Preframed)[] = [];

// --- Socket.IO ----------------------------------------------------------------------------

/** One engine.io message of a Socket.IO packet: what polling sends, and its WebSocket frame. */
interface EngineMessage {
  /** The Socket.IO encoder's output: the packet string, or one binary attachment. */
  readonly data: string | Buffer;
  /** `data` as engine.io's websocket transport would send it: `4` + the string, or the raw bytes. */
  readonly frame: Preframed;
}

/**
 * A Socket.IO event encoded once by socket.io's own encoder and pre-framed: one engine.io
 * message for a text packet, the packet string then one per Buffer for a binary one.
 */
export class PreframedSocketIoPacket {
  readonly messages: readonly EngineMessage[];

  constructor(encoder: SocketIoServer['encoder'], event: string, payload: unknown) {
    // What socket.emit encodes; socket.io-adapter's broadcast starts from the same call.
    const encoded = encoder.encode({ type: SOCKET_IO_EVENT, nsp: '/', data: [event, payload] }) as (string | Buffer)[];
    this.messages = encoded.map((data) => ({
      data,
      frame: typeof data === 'string' ? pool.frame(ENGINE_IO_MESSAGE + data, false) : pool.frame(data, true),
    }));
  }

  /** Bytes of the packet's WebSocket frames. */
  get bytes(): number {
    let bytes = 0;
    for (const message of this.messages) bytes += message.frame.bytes.length;
    return bytes;
  }

  retire(): void {
    for (const message of this.messages) message.frame.retire();
  }
}

/**
 * `payload` as the Socket.IO `event` packet of `variant`, encoded and framed once per variant
 * and `key`, retired when the variant cache lets the variant go.
 */
export function preframedSocketIoEvent(
  variant: Variant,
  key: string,
  encoder: SocketIoServer['encoder'],
  event: string,
  payload: (variant: Variant) => unknown,
): PreframedSocketIoPacket {
  return variant.memo(key, (v) => new PreframedSocketIoPacket(encoder, event, payload(v)), retire);
}

/** The engine.io connection under a Socket.IO socket, as far as a pre-framed write needs it. */
type EngineConnection = SocketIoSocket['conn'];

/**
 * Writes `packet` to one Socket.IO client through engine.io (`socket.conn.write`), which keeps
 * its order with the socket's other packets, its heartbeat and its transport upgrade. Over
 * WebSocket engine.io writes the pre-framed bytes (`wsPreEncodedFrame`) with one socket write;
 * over polling it encodes `data` into the response as usual. `written` runs when the transport
 * has flushed the last message (engine.io's write callback); engine.io drops it when the
 * connection closes first, and the frames then keep their holds (see the contract above).
 */
export function writeSocketIoPacket(connection: EngineConnection, packet: PreframedSocketIoPacket, written: () => void): void {
  const { messages } = packet;
  // A binary attachment's frame is the raw bytes, right only for a transport that sends binary
  // (a `b64` client gets base64 text instead, which engine.io encodes from `data`; the field is
  // protected in engine.io's types, public in its code).
  const binaryOk = (connection.transport as unknown as { supportsBinary?: boolean }).supportsBinary === true;
  for (const message of messages) message.frame.hold();
  for (let i = 0; i < messages.length; i++) {
    const { data, frame } = messages[i]!;
    const options = typeof data === 'string' || binaryOk ? { compress: false, wsPreEncodedFrame: [frame.bytes] } : { compress: false };
    const last = i === messages.length - 1;
    connection.write(data, options, last ? () => {
      for (const message of messages) message.frame.release();
      written();
    } : undefined);
  }
}
