import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import { WsFrameWriter } from '../src/server/ws-send.js';

/** Server-side sockets of real connections on 127.0.0.1, with their clients' received messages. */
describe('WsFrameWriter', () => {
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

  async function pair(): Promise<{ server: WebSocket; received: Promise<Buffer> }> {
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const address = wss.address() as { port: number };
    const client = new WebSocket(`ws://127.0.0.1:${address.port}`);
    clients.push(client);
    const received = new Promise<Buffer>((resolve) => client.once('message', (data) => resolve(data as Buffer)));
    await new Promise<void>((resolve, reject) => { client.once('open', resolve); client.once('error', reject); });
    return { server: await accepted, received };
  }

  it('makes the writes of one fan-out after it, back to back, and reports each when the socket took it', async () => {
    const [a, b] = [await pair(), await pair()];
    const order: string[] = [];
    for (const [name, { server }] of [['a', a], ['b', b]] as const) {
      const send = server.send.bind(server);
      server.send = ((...args: Parameters<typeof send>) => { order.push(`send ${name}`); send(...args); }) as typeof server.send;
    }
    const done: [string, Error | undefined, number][] = [];
    new WsFrameWriter(a.server).send(Buffer.from('frame a'), true, (error, bytes) => done.push(['a', error, bytes]));
    new WsFrameWriter(b.server).send('frame b', false, (error, bytes) => done.push(['b', error, bytes]));
    order.push('fan-out over');
    assert.deepEqual(await Promise.all([a.received, b.received]).then((m) => m.map(String)), ['frame a', 'frame b']);
    assert.deepEqual(order, ['fan-out over', 'send a', 'send b']);
    assert.deepEqual(done, [['a', undefined, 7], ['b', undefined, 7]]);
  });

  it('ends the delivery with an error when the socket closed before the write was made', async () => {
    const { server } = await pair();
    const result = new Promise<Error | undefined>((resolve) => {
      new WsFrameWriter(server).send(Buffer.from('late'), true, (error) => resolve(error));
    });
    server.terminate();
    assert.match((await result)?.message ?? '', /socket is not open/);
  });
});
