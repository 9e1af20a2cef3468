import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * WebSocket at the byte level, on a bare TCP socket: the fuzzer writes frames no WebSocket
 * library would (bad opcodes, invalid UTF-8, unmasked, half a frame) and reads exactly what
 * the server answers, including a second HTTP answer or none at all.
 */

export interface RawConnection {
  socket: Socket;
  /** The HTTP status of the upgrade answer (0 = none before the deadline or the end). */
  status: number;
  /** Everything received so far (the HTTP head, then frames). */
  received(): Buffer;
  /** Resolves when the server ends or resets the connection, or with `false` after `ms`. */
  ended(ms: number): Promise<boolean>;
  destroy(): void;
}

/** Connects and writes `request` (the bytes of an HTTP request); the head is read up to `ms`. */
export function rawRequest(port: number, request: string | Buffer, ms: number): Promise<RawConnection> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let ended = false;
    const endWaiters: (() => void)[] = [];
    let settled = false;
    const received = () => Buffer.concat(chunks);
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const head = received().toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({
        socket,
        status: match ? Number(match[1]) : 0,
        received,
        ended: (wait) => ended ? Promise.resolve(true) : new Promise<boolean>((done) => {
          const t = setTimeout(() => done(false), wait);
          endWaiters.push(() => { clearTimeout(t); done(true); });
        }),
        destroy: () => socket.destroy(),
      });
    };
    const timer = setTimeout(finish, ms);
    socket.on('error', function rawOnError() {
      // ECONNRESET and friends: the connection is over, which `ended` reports.
    });
    socket.on('data', function rawOnData(chunk: Buffer) {
      chunks.push(chunk);
      if (received().includes('\r\n\r\n')) finish();
    });
    socket.on('close', function rawOnClose() {
      ended = true;
      for (const waiter of endWaiters.splice(0)) waiter();
      finish();
    });
    socket.on('connect', function rawOnConnect() {
      socket.write(request);
    });
  });
}

/** The bytes of a WebSocket upgrade request for `path`. */
export function upgradeRequest(path: string, extraHeaders: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...extraHeaders,
    '',
    '',
  ].join('\r\n');
}

export interface FrameSpec {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  /** RSV1-3 bits (0-7); non-zero without an extension is a protocol error. */
  rsv?: number;
  /** Clients must mask; `false` writes an unmasked frame (a protocol error). */
  mask?: boolean;
  /** Declares this length instead of the payload's (for oversize headers). */
  declaredLength?: number;
}

/** Encodes one frame as a client would send it (masked unless told otherwise). */
export function encodeFrame({ opcode, payload, fin = true, rsv = 0, mask = true, declaredLength }: FrameSpec): Buffer {
  const length = declaredLength ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 65536) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    head.push(maskBit | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(...big);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Parses the server's (unmasked) frames after the HTTP head; stops at an incomplete one. */
export function parseServerFrames(bytes: Buffer): ServerFrame[] {
  const headEnd = bytes.indexOf('\r\n\r\n');
  let offset = headEnd < 0 ? bytes.length : headEnd + 4;
  const frames: ServerFrame[] = [];
  while (offset + 2 <= bytes.length) {
    const opcode = bytes[offset]! & 0x0f;
    let length = bytes[offset + 1]! & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (at + 2 > bytes.length) break;
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (at + 8 > bytes.length) break;
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    if (at + length > bytes.length) break;
    frames.push({ opcode, payload: bytes.subarray(at, at + length) });
    offset = at + length;
  }
  return frames;
}

/** The close frame's code among `frames` (0 = none; 1005 = a close frame without a code). */
export function closeCodeOf(frames: readonly ServerFrame[]): number {
  const close = frames.find((f) => f.opcode === 0x8);
  if (!close) return 0;
  return close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
}

/** Whether a close frame's reason is valid UTF-8 of at most 123 bytes (RFC 6455 5.5, 7.1.6). */
export function closeReasonValid(frames: readonly ServerFrame[]): boolean {
  const close = frames.find((f) => f.opcode === 0x8);
  if (!close || close.payload.length <= 2) return true;
  const reason = close.payload.subarray(2);
  if (reason.length > 123) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(reason);
    return true;
  } catch {
    return false;
  }
}
