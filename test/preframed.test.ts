import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Server as SocketIoServer, type Socket as ServerSocket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { FramePool, PreframedSocketIoPacket, PreframedWriter, writeSocketIoPacket } from '../src/server/preframed.js';

/** The length field of a frame's header, RFC 6455 5.2: 7 bits, or 126 + 16 bits, or 127 + 64 bits. */
function headerFor(length: number, opcode: number): number[] {
  if (length < 126) return [0x80 | opcode, length];
  if (length < 0x10000) return [0x80 | opcode, 126, length >> 8, length & 0xff];
  const bytes = [0x80 | opcode, 127];
  for (let shift = 56; shift >= 0; shift -= 8) bytes.push(Number((BigInt(length) >> BigInt(shift)) & 0xffn));
  return bytes;
}

describe('preframed: WebSocket frames', () => {
  let wss: WebSocketServer;
  const clients: WebSocket[] = [];
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await once(wss, 'listening');
  });
  after(async () => {
    for (const client of clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  async function pair(options: { perMessageDeflate?: boolean } = {}) {
    const accepted = new Promise<[WebSocket, NetSocket]>((resolve) => wss.once('connection', (ws, req) => resolve([ws, req.socket as NetSocket])));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, options);
    clients.push(client);
    const messages: { data: Buffer; binary: boolean }[] = [];
    let wake = () => {};
    client.on('message', (data, binary) => {
      messages.push({ data: data as Buffer, binary });
      wake();
    });
    await once(client, 'open');
    const [server, socket] = await accepted;
    return { server, socket, client, messages, next: () => new Promise<void>((resolve) => (wake = resolve)) };
  }

  it('frames payloads at the 7-bit, 16-bit and 64-bit length boundaries, which a ws client reads back whole', async () => {
    const p = await pair();
    const pool = new FramePool();
    for (const length of [125, 126, 65_535, 65_536]) {
      for (const binary of [true, false]) {
        const payload = Buffer.alloc(length, binary ? 0xfe : 0x61);
        const frame = pool.frame(payload, binary);
        const header = headerFor(length, binary ? 0x2 : 0x1);
        assert.equal(frame.bytes.length, header.length + length, `length ${length}`);
        assert.deepEqual([...frame.bytes.subarray(0, header.length)], header, `header for ${length}`);
        const arrived = p.next();
        p.socket.write(frame.bytes);
        await arrived;
        const got = p.messages.at(-1)!;
        assert.equal(got.binary, binary, `length ${length}`);
        assert.ok(Buffer.from(got.data).equals(payload), `payload of ${length}`);
      }
    }
    // A string counts in UTF-8 bytes: 63 x 2 bytes is 126 (16-bit length), 32 767 x 2 + 2 x 1 is 65 536.
    for (const text of ['é'.repeat(63), 'é'.repeat(32_767) + 'ab']) {
      const frame = pool.frame(text, false);
      const length = Buffer.byteLength(text);
      assert.deepEqual([...frame.bytes.subarray(0, headerFor(length, 1).length)], headerFor(length, 1));
      const arrived = p.next();
      p.socket.write(frame.bytes);
      await arrived;
      assert.equal(String(p.messages.at(-1)!.data), text);
    }
  });

  it("counts a frame in ws's bufferedAmount until the kernel has taken it, as ws.send's own messages", async () => {
    const p = await pair();
    const filler = Buffer.alloc(1 << 20, 0x7a);
    // The client stops reading; ws's own sends fill the kernel's queues until the socket buffers.
    (p.client as unknown as { _socket: NetSocket })._socket.pause();
    while (p.socket.writableLength === 0) p.server.send(filler);
    const before = p.server.bufferedAmount;
    assert.equal(before, p.socket.writableLength);
    const frame = new FramePool().frame(Buffer.alloc(100_000, 0x41), true);
    const written = new Promise<[Error | undefined, number]>((resolve) => {
      new PreframedWriter(p.server, p.socket).send(frame, (error, bytes) => resolve([error, bytes]));
    });
    assert.equal(p.server.bufferedAmount, before, 'not counted before the end of the task: the write is not made yet');
    await new Promise<void>((resolve) => queueMicrotask(resolve)); // the writer's flush
    assert.equal(p.server.bufferedAmount, before + frame.bytes.length);
    (p.client as unknown as { _socket: NetSocket })._socket.resume();
    assert.deepEqual(await written, [undefined, frame.bytes.length]);
    assert.equal(p.server.bufferedAmount, 0, 'the frame left bufferedAmount when its write completed');
  });

  it('refuses a socket that negotiated permessage-deflate', async () => {
    const deflating = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
    await once(deflating, 'listening');
    try {
      const accepted = new Promise<[WebSocket, NetSocket]>((resolve) => deflating.once('connection', (ws, req) => resolve([ws, req.socket as NetSocket])));
      const client = new WebSocket(`ws://127.0.0.1:${(deflating.address() as AddressInfo).port}`);
      clients.push(client);
      await once(client, 'open');
      const [server, socket] = await accepted;
      assert.throws(() => new PreframedWriter(server, socket), /permessage-deflate/);
      client.terminate();
    } finally {
      await new Promise<void>((resolve) => deflating.close(() => resolve()));
    }
  });
});

describe('preframed: Socket.IO packets', () => {
  let http: HttpServer;
  let io: SocketIoServer;
  let url: string;
  const clients: ClientSocket[] = [];
  before(async () => {
    http = createServer();
    io = new SocketIoServer(http, { perMessageDeflate: false, httpCompression: false });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    await io.close();
  });

  /** A connected client and its server-side socket. */
  async function connected(options: Parameters<typeof connect>[1]): Promise<[ClientSocket, ServerSocket]> {
    const accepted = new Promise<ServerSocket>((resolve) => io.once('connection', resolve));
    const client = connect(url, { reconnection: false, ...options });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('connect_error', reject);
    });
    return [client, await accepted];
  }

  /** Writes `packet` to the socket and resolves with the client's `frame` event and the writes made. */
  async function roundTrip(client: ClientSocket, socket: ServerSocket, packet: PreframedSocketIoPacket) {
    // The raw socket under engine.io's websocket transport, if any: its writes show which bytes went out.
    const transport = socket.conn.transport as unknown as { socket?: { _socket?: NetSocket } };
    const raw = transport.socket?._socket;
    const writes: unknown[] = [];
    if (raw) {
      const write = raw.write.bind(raw) as (...args: unknown[]) => boolean;
      raw.write = ((...args: unknown[]) => { writes.push(args[0]); return write(...args); }) as typeof raw.write;
    }
    const received = new Promise<unknown[]>((resolve) => client.once('frame', (...args: unknown[]) => resolve(args)));
    const written = new Promise<void>((resolve) => writeSocketIoPacket(socket.conn, packet, resolve));
    await written;
    return { args: await received, writes };
  }

  it('sends a text event as one pre-framed write over websocket, decoded by socket.io-client', async () => {
    const [client, socket] = await connected({ transports: ['websocket'] });
    const payload = { image: 'x'.repeat(70_000), timestamp: 1_700_000_000_123, size: 52_500, note: 'é€' };
    const packet = new PreframedSocketIoPacket(io.encoder, 'frame', payload);
    assert.equal(packet.messages.length, 1);
    const { args, writes } = await roundTrip(client, socket, packet);
    assert.deepEqual(args, [payload]);
    assert.deepEqual(writes, [packet.messages[0]!.frame.bytes], 'the pre-framed bytes themselves, in one write');
    assert.equal(packet.bytes, packet.messages[0]!.frame.bytes.length);
  });

  it('sends a binary event (packet string and attachment) pre-framed over websocket', async () => {
    const [client, socket] = await connected({ transports: ['websocket'] });
    const image = Buffer.alloc(65_536, 0xab);
    const packet = new PreframedSocketIoPacket(io.encoder, 'frame', { image, size: image.length });
    assert.equal(packet.messages.length, 2, 'the packet string and one attachment');
    const { args, writes } = await roundTrip(client, socket, packet);
    const [got] = args as [{ image: Buffer; size: number }];
    assert.ok(Buffer.from(got.image).equals(image));
    assert.equal(got.size, image.length);
    assert.deepEqual(writes, packet.messages.map((m) => m.frame.bytes));
  });

  it('leaves a base64-only client to engine.io: the attachment goes as text, the event still decodes', async () => {
    const [client, socket] = await connected({ transports: ['websocket'], forceBase64: true });
    const image = Buffer.from('not sent as raw bytes');
    const packet = new PreframedSocketIoPacket(io.encoder, 'frame', { image });
    const { args, writes } = await roundTrip(client, socket, packet);
    assert.ok(Buffer.from((args[0] as { image: Buffer }).image).equals(image));
    assert.equal(writes[0], packet.messages[0]!.frame.bytes, 'the packet string still goes pre-framed');
    assert.notEqual(writes[1], packet.messages[1]!.frame.bytes, 'the binary frame does not');
  });

  it('sends text and binary events over polling from the same packet', async () => {
    const [client, socket] = await connected({ transports: ['polling'] });
    const text = new PreframedSocketIoPacket(io.encoder, 'frame', { image: 'abc', timestamp: 1 });
    assert.deepEqual((await roundTrip(client, socket, text)).args, [{ image: 'abc', timestamp: 1 }]);
    const image = Buffer.alloc(1000, 7);
    const binary = new PreframedSocketIoPacket(io.encoder, 'frame', { image });
    assert.ok(Buffer.from(((await roundTrip(client, socket, binary)).args[0] as { image: Buffer }).image).equals(image));
  });

  it('holds pooled frames until engine.io has written them, then gives the memory back once retired', async () => {
    const [client, socket] = await connected({ transports: ['websocket'] });
    const packet = new PreframedSocketIoPacket(io.encoder, 'frame', { image: 'y'.repeat(40_000) });
    const frame = packet.messages[0]!.frame;
    const received = new Promise<void>((resolve) => client.once('frame', () => resolve()));
    const written = new Promise<void>((resolve) => writeSocketIoPacket(socket.conn, packet, resolve));
    packet.retire();
    assert.equal(frame.returned, false, 'held by the write in flight');
    await written;
    assert.equal(frame.returned, true);
    await received;
  });
});
