import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

/**
 * A receive-only WebSocket client (RFC 6455) over a bare socket, for the bench: it copies the
 * first `headBytes` of each message (where the capture stamp is) and only counts the rest.
 *
 * Why not `ws` here: a `ws` client concatenates every 64 KiB message into a fresh Buffer and
 * emits it, and with 100 clients in one process that receive path, not the server, set the
 * p99 latency (docs/benchmarks.md). This one does what the plain-TCP baseline's clients do, so
 * the three servers are read by clients of the same cost. It answers pings (framehub drops
 * peers that do not) and close frames; it never sends data.
 */
export function openRawWebSocket(
  url: string,
  headBytes: number,
  timeoutMs: number,
  onMessage: (head: Buffer, size: number) => void,
  /** The messages passed to `onMessage`: binary (0x2, the frames of /ws/video_feed) or text (0x1, /stream's JSON). */
  opcode: 0x1 | 0x2 = 0x2,
): Promise<Socket> {
  const { hostname, port, pathname, search } = new URL(url);
  const key = randomBytes(16).toString('base64');
  const expectedAccept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
  return new Promise((resolve, reject) => {
    let reader: FrameReader | undefined;
    let response = Buffer.alloc(0);
    const onHandshake = (chunk: Buffer): void => {
      response = Buffer.concat([response, chunk]);
      const end = response.indexOf('\r\n\r\n');
      if (end === -1) {
        if (response.length > 16_384) socket.destroy(new Error('websocket handshake response too long'));
        return;
      }
      const head = response.subarray(0, end).toString('latin1');
      const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(head)?.[1];
      if (!head.startsWith('HTTP/1.1 101') || accept !== expectedAccept) {
        socket.destroy(new Error(`websocket handshake refused: ${head.split('\r\n')[0]}`));
        return;
      }
      socket.setTimeout(0);
      reader = new FrameReader(socket, headBytes, onMessage, opcode);
      const rest = response.subarray(end + 4);
      if (rest.length > 0) reader.push(rest);
      resolve(socket);
    };
    const socket = connect({
      host: hostname,
      port: Number(port),
      noDelay: true,
      // Reads land in one buffer shared by every client of the process (each chunk is parsed
      // before the next read), not in a fresh Buffer and a stream 'data' event per read.
      onread: {
        buffer: readBuffer,
        callback(bytes: number, buffer: Uint8Array): boolean {
          const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
          if (reader) reader.push(chunk);
          else onHandshake(chunk);
          return true;
        },
      },
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('websocket handshake timeout')));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

/** Where every socket opened here reads into (see `onread` above). */
export const readBuffer = Buffer.alloc(256 * 1024);

/** Parses server frames (unmasked) incrementally; messages may be fragmented. */
class FrameReader {
  readonly #header = Buffer.alloc(10);
  #headerFill = 0;
  #headerNeed = 2;
  #inPayload = false;
  #remaining = 0;
  #fin = false;
  #opcode = 0;
  /** Opcode of the data message being assembled (continuations keep it). */
  #messageOpcode = 0;
  readonly #head: Buffer;
  #headFill = 0;
  #messageSize = 0;
  readonly #control = Buffer.alloc(125);
  #controlFill = 0;

  constructor(
    readonly socket: Socket,
    headBytes: number,
    readonly onMessage: (head: Buffer, size: number) => void,
    readonly opcode: number,
  ) {
    this.#head = Buffer.alloc(headBytes);
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length || (this.#inPayload && this.#remaining === 0)) {
      if (!this.#inPayload) {
        const take = Math.min(this.#headerNeed - this.#headerFill, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFill, offset, offset + take);
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill < this.#headerNeed) return;
        if (!this.#parseHeader()) continue;
      }
      const take = Math.min(this.#remaining, chunk.length - offset);
      if (this.#opcode >= OP_CLOSE) {
        chunk.copy(this.#control, this.#controlFill, offset, offset + take);
        this.#controlFill += take;
      } else if (this.#headFill < this.#head.length) {
        const copy = Math.min(take, this.#head.length - this.#headFill);
        chunk.copy(this.#head, this.#headFill, offset, offset + copy);
        this.#headFill += copy;
      }
      offset += take;
      this.#remaining -= take;
      this.#messageSize += this.#opcode >= OP_CLOSE ? 0 : take;
      if (this.#remaining === 0) this.#frameDone();
    }
  }

  /** False while the header needs more bytes (extended length). */
  #parseHeader(): boolean {
    const b0 = this.#header[0]!;
    const b1 = this.#header[1]!;
    const short = b1 & 0x7f;
    const need = short === 126 ? 4 : short === 127 ? 10 : 2;
    if (this.#headerNeed < need) {
      this.#headerNeed = need;
      return false;
    }
    if (b1 & 0x80) throw new Error('server frames must not be masked');
    this.#fin = (b0 & 0x80) !== 0;
    this.#opcode = b0 & 0x0f;
    this.#remaining = short === 126 ? this.#header.readUInt16BE(2) : short === 127 ? Number(this.#header.readBigUInt64BE(2)) : short;
    if (this.#opcode >= OP_CLOSE) this.#controlFill = 0;
    else if (this.#opcode !== OP_CONTINUATION) {
      this.#messageOpcode = this.#opcode;
      this.#headFill = 0;
      this.#messageSize = 0;
    }
    this.#headerFill = 0;
    this.#headerNeed = 2;
    this.#inPayload = true;
    return true;
  }

  #frameDone(): void {
    this.#inPayload = false;
    if (this.#opcode === OP_PING) this.#send(0xa, this.#control.subarray(0, this.#controlFill));
    else if (this.#opcode === OP_CLOSE) {
      this.#send(OP_CLOSE, this.#control.subarray(0, Math.min(2, this.#controlFill)));
      this.socket.end();
    } else if (this.#fin && this.#messageOpcode === this.opcode) {
      this.onMessage(this.#head.subarray(0, this.#headFill), this.#messageSize);
    }
  }

  /** A masked control frame, as RFC 6455 requires of clients. */
  #send(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    const mask = randomBytes(4);
    const frame = Buffer.alloc(6 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    mask.copy(frame, 2);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(frame);
  }
}
