import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { SignJWT } from 'jose';
import { PixelSocket, WebSocketClient, FixedDelay } from '../src/client/index.js';
import { JWT_SECRET, numberedPng, sha, startGenServer, startProducer } from './generations-helpers.js';
import { listenLocal } from './listen-local.js';

const TOTAL = 100;

/**
 * A TCP proxy in front of framehub whose connections can be cut (a network drop the client
 * cannot tell from a crash) and which refuses new ones while `blocked`.
 */
class CuttableProxy {
  readonly server: Server;
  readonly sockets = new Set<Socket>();
  blocked = false;
  constructor(targetPort: number) {
    this.server = createServer((client) => {
      if (this.blocked) return void client.destroy();
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
  listen(): Promise<number> {
    return listenLocal(this.server);
  }
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits until `predicate` holds, checking whenever `tick` fires; bounded by `timeoutMs`. */
function until(tick: EventEmitter, predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const timer = setTimeout(() => { tick.off('tick', check); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
    const check = () => {
      if (!predicate()) return;
      clearTimeout(timer);
      tick.off('tick', check);
      resolve();
    };
    tick.on('tick', check);
  });
}

/** Cuts the network twice mid-way and keeps the client out while the producer goes on. */
async function cutTwice(proxy: CuttableProxy, tick: EventEmitter, received: () => number, producer: ReturnType<typeof startProducer>) {
  for (const cutAt of [30, 65]) {
    await until(tick, () => received() >= cutAt, `${cutAt} images before the cut`);
    proxy.blocked = true;
    proxy.cut();
    await producer.atLeast(received() + 10);
    proxy.blocked = false;
  }
}

test('client library: PixelSocket on /ws/streaming survives two network cuts and ends with all 100 images, in order, none twice', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const proxy = new CuttableProxy(srv.port);
  const port = await proxy.listen();
  t.after(() => proxy.close());
  const images = await Promise.all(Array.from({ length: TOTAL }, (_, i) => numberedPng(i)));
  const index = new Map(images.map((b, i) => [sha(b), i]));
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'through the client', seed: 3 });

  const got: number[] = [];
  const tick = new EventEmitter();
  const connected = new EventEmitter();
  const client = new PixelSocket({
    url: `ws://127.0.0.1:${port}/ws/streaming`,
    saveImages: false,
    reconnectPolicy: new FixedDelay({ delay: 50, maxAttempts: 1000 }),
    onImage: (data, metadata) => {
      got.push(index.get(sha(data)) ?? -1);
      assert.equal((metadata?.params as { seed?: string } | undefined)?.seed, '3');
      tick.emit('tick');
    },
    onConnect: () => connected.emit('open'),
  });
  t.after(() => client.disconnect());
  const opened = once(connected, 'open');
  await client.connect();
  await opened;
  const producer = startProducer(srv, job.job_id, images);
  await cutTwice(proxy, tick, () => got.length, producer);
  await producer.done;
  await until(tick, () => got.length >= TOTAL, `all ${TOTAL} images`);
  assert.deepEqual(got, Array.from({ length: TOTAL }, (_, i) => i));
  assert.ok(client.getStats().reconnectAttempts >= 0);
});

test('client library: WebSocketClient on /ws with a JWT survives two network cuts and ends with all 100 completions, in order, none twice', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const proxy = new CuttableProxy(srv.port);
  const port = await proxy.listen();
  t.after(() => proxy.close());
  const images = await Promise.all(Array.from({ length: TOTAL }, (_, i) => numberedPng(i)));
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'through the client', user_id: 'dana' });

  let tokensIssued = 0;
  const client = new WebSocketClient(`ws://127.0.0.1:${port}/ws`, async () => {
    tokensIssued++;
    return new SignJWT({ scope: 'view' }).setProtectedHeader({ alg: 'HS256' }).setSubject('dana').setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
  }, { reconnectPolicy: new FixedDelay({ delay: 50, maxAttempts: 1000 }), heartbeatInterval: 0 });
  t.after(() => client.disconnect());
  const got: number[] = [];
  const ids: number[] = [];
  const tick = new EventEmitter();
  client.on('image.generation.completed', (event) => {
    got.push((event.payload.metadata as { image_idx: number }).image_idx);
    ids.push(Number((event as { id?: unknown }).id));
    tick.emit('tick');
  });
  await client.connect();
  const producer = startProducer(srv, job.job_id, images);
  await cutTwice(proxy, tick, () => got.length, producer);
  await producer.done;
  await until(tick, () => got.length >= TOTAL, `all ${TOTAL} completions`);
  assert.deepEqual(got, Array.from({ length: TOTAL }, (_, i) => i));
  assert.ok(ids.every(Number.isInteger), 'events carry their id');
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  assert.ok(tokensIssued >= 3, 'a fresh token on every connection');
});
