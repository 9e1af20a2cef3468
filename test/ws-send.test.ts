import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { FramePool, PreframedWriter } from '../src/server/preframed.js';

/** A frame of its own (not pooled when small, so each test's frame is independent of the others). */
const framed = (payload: Buffer | string, binary: boolean) => new FramePool().frame(payload, binary);

/** Server-side sockets of real connections on 127.0.0.1, with their clients' received messages. */
describe('PreframedWriter and FramePool frames over real sockets', () => {
  let wss: WebSocketServer;
  const clients: WebSocket[] = [];
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
  });
  after(async () => {
    for (const client of clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  interface Pair { server: WebSocket; socket: Socket; client: WebSocket; messages: { data: Buffer; binary: boolean }[]; next(): Promise<void> }

  async function pair(): Promise<Pair> {
    const accepted = new Promise<[WebSocket, Socket]>((resolve) => wss.once('connection', (ws, req) => resolve([ws, req.socket])));
    const address = wss.address() as { port: number };
    const client = new WebSocket(`ws://127.0.0.1:${address.port}`);
    clients.push(client);
    const messages: Pair['messages'] = [];
    let wake = () => {};
    client.on('message', (data, binary) => {
      messages.push({ data: data as Buffer, binary });
      wake();
    });
    await new Promise<void>((resolve, reject) => { client.once('open', resolve); client.once('error', reject); });
    const [server, socket] = await accepted;
    return { server, socket, client, messages, next: () => new Promise<void>((resolve) => (wake = resolve)) };
  }

  it('makes the writes of one fan-out after it, back to back, and reports each when the socket took it', async () => {
    const [a, b] = [await pair(), await pair()];
    const order: string[] = [];
    for (const [name, { socket }] of [['a', a], ['b', b]] as const) {
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((...args: unknown[]) => { order.push(`write ${name}`); return write(...args); }) as typeof socket.write;
    }
    const done: [string, Error | undefined, number][] = [];
    const arrived = Promise.all([a.next(), b.next()]);
    new PreframedWriter(a.server, a.socket).send(framed(Buffer.from('frame a'), true), (error, bytes) => done.push(['a', error, bytes]));
    new PreframedWriter(b.server, b.socket).send(framed(Buffer.from('frame b'), false), (error, bytes) => done.push(['b', error, bytes]));
    order.push('fan-out over');
    await arrived;
    assert.deepEqual([a.messages, b.messages].map((m) => m.map(({ data, binary }) => [String(data), binary])), [[['frame a', true]], [['frame b', false]]]);
    assert.deepEqual(order, ['fan-out over', 'write a', 'write b']);
    // The bytes the socket took: the 7-byte payload and its 2-byte header.
    assert.deepEqual(done, [['a', undefined, 9], ['b', undefined, 9]]);
  });

  it('ends the delivery with an error when the socket closed before the write was made', async () => {
    const { server, socket } = await pair();
    const result = new Promise<Error | undefined>((resolve) => {
      new PreframedWriter(server, socket).send(framed(Buffer.from('late'), true), (error) => resolve(error));
    });
    server.terminate();
    assert.match((await result)?.message ?? '', /socket is not open/);
  });

  it('writes nothing after the closing handshake started', async () => {
    const { server, socket, client } = await pair();
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    const result = new Promise<Error | undefined>((resolve) => {
      new PreframedWriter(server, socket).send(framed(Buffer.from('after close'), true), (error) => resolve(error));
    });
    server.close(1000);
    assert.match((await result)?.message ?? '', /socket is not open/);
    assert.equal(await closed, 1000);
  });

  it('frames every payload length a client reads back whole: 7-bit, 16-bit and 64-bit lengths, binary and text, Buffers and strings', async () => {
    const p = await pair();
    const lengths = [0, 125, 126, 65_535, 65_536, 200_000];
    for (const [i, length] of lengths.entries()) {
      const payload = Buffer.alloc(length, i % 2 === 0 ? 0x61 : 0x62);
      const arrived = p.next();
      p.socket.write(framed(payload, i % 2 === 0).bytes);
      await arrived;
      const got = p.messages.at(-1)!;
      assert.equal(got.binary, i % 2 === 0, `length ${length}`);
      assert.ok(Buffer.from(got.data).equals(payload), `length ${length}`);
    }
    // Text given as a string is encoded into the frame, its length counted in bytes, not characters.
    for (const text of ['', 'plain', 'é'.repeat(100), '€'.repeat(30_000)]) {
      const arrived = p.next();
      p.socket.write(framed(text, false).bytes);
      await arrived;
      const got = p.messages.at(-1)!;
      assert.equal(got.binary, false);
      assert.equal(Buffer.from(got.data).toString('utf8'), text, `${Buffer.byteLength(text)} bytes of text`);
    }
    // The connection is still in step: a message through ws's own sender after them arrives too.
    const arrived = p.next();
    p.server.send('after');
    await arrived;
    assert.equal(String(p.messages.at(-1)!.data), 'after');
  });

  it('holds a pooled frame while a write to a client that stopped reading is pending, then gives its memory back', async () => {
    const p = await pair();
    const pool = new FramePool();
    const filler = Buffer.alloc(1 << 20, 0x7a);
    // The client stops reading; writes through ws fill the kernel's queues until the socket buffers.
    (p.client as unknown as { _socket: Socket })._socket.pause();
    while (p.socket.writableLength === 0) p.server.send(filler);
    const payload = Buffer.alloc(100_000, 0x41);
    const frame = pool.frame(payload, true);
    const result = new Promise<[Error | undefined, number]>((resolve) => {
      new PreframedWriter(p.server, p.socket).send(frame, (error, bytes) => resolve([error, bytes]));
    });
    await new Promise<void>((resolve) => queueMicrotask(resolve)); // the writer's flush
    frame.retire(); // the variant let go of it: only the pending write holds it now
    assert.equal(frame.returned, false, 'not returned while the write holds it');
    const other = pool.frame(Buffer.alloc(100_000, 0x42), true);
    assert.notEqual(other.bytes.buffer, frame.bytes.buffer, 'a new frame does not get memory a write still holds');
    // The client reads again: the pending write completes and the memory returns.
    const received = new Promise<Buffer>((resolve) => {
      p.client.on('message', (data) => { if ((data as Buffer).length === payload.length) resolve(data as Buffer); });
    });
    (p.client as unknown as { _socket: Socket })._socket.resume();
    assert.deepEqual(await result, [undefined, payload.length + 10]);
    assert.equal(frame.returned, true);
    assert.ok((await received).equals(payload), 'the client got the frame as it was written');
    const next = pool.frame(Buffer.alloc(99_000, 0x43), true);
    assert.equal(next.bytes.buffer, frame.bytes.buffer, 'the next frame of about that size reuses the memory');
  });

  it('releases a frame the kernel took at once, so a retired frame goes back before its write callback', async () => {
    const p = await pair();
    const pool = new FramePool();
    const frame = pool.frame(Buffer.alloc(50_000, 0x44), true);
    const arrived = p.next();
    const written = new Promise<void>((resolve) => new PreframedWriter(p.server, p.socket).send(frame, () => resolve()));
    frame.retire();
    assert.equal(frame.returned, false, 'held from send() on, before the write is made');
    await new Promise<void>((resolve) => queueMicrotask(resolve)); // the writer's flush
    assert.equal(frame.returned, true, 'an idle socket takes 50 KB at once');
    await written;
    await arrived;
    assert.equal(p.messages.at(-1)!.data.length, 50_000);
  });
});
