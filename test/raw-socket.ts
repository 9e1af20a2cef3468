import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * A TCP connection to 127.0.0.1:`port` that sends `request` as it is (no client library in
 * between, so it can send what a library would refuse), and collects every byte the server sends.
 */
export interface RawConnection {
  socket: Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves when the server has closed the connection (or it was reset). */
  ended: Promise<void>;
}

export async function rawConnection(port: number, request: string | Buffer, localAddress = '127.0.0.1'): Promise<RawConnection> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
  await once(socket, 'connect');
  socket.write(request);
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), ended };
}

/** The text of a WebSocket upgrade request for `path`. */
export function upgradeRequest(path: string, extraHeaders = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`;
}

/** Resolves once the received bytes contain `text`. */
export async function receivedText(connection: RawConnection, text: string): Promise<void> {
  while (!connection.received().includes(text)) {
    const data = once(connection.socket, 'data');
    const closed = connection.ended.then(() => {
      throw new Error(`connection closed before ${JSON.stringify(text)}; got ${JSON.stringify(connection.received().slice(0, 200))}`);
    });
    await Promise.race([data, closed]);
  }
}

/**
 * One masked client frame: `opcode` (1 text, 2 binary, 3-7 reserved), `payload`, and a
 * declared length that may differ from the payload's (to announce more than is sent).
 */
export function clientFrame(opcode: number, payload: Buffer, declaredLength = payload.length, fin = true): Buffer {
  let header: Buffer;
  if (declaredLength < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | declaredLength]);
  } else if (declaredLength < 65536) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(declaredLength, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(declaredLength), 2);
  }
  const mask = randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, masked]);
}
