import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { WebSocketServer, type WebSocket } from 'ws';
import { withTimeout } from './wait.js';

/** Helpers for the client library's tests: real `ws` servers, real images, bounded waits. */

export interface ShapeServer {
  wss: WebSocketServer;
  port: number;
  url: string;
  /** Resolves with the next client connection (and its request URL). */
  nextConnection(timeoutMs?: number): Promise<{ ws: WebSocket; url: URL }>;
  /** Closes every client (as a crash would: no closing handshake) and the server. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

/** A plain `ws` server on 127.0.0.1 (port 0 unless told), standing in for "anyone's server". */
export async function startShapeServer(port = 0): Promise<ShapeServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await once(wss, 'listening');
  const actual = (wss.address() as AddressInfo).port;
  const queue: Array<{ ws: WebSocket; url: URL }> = [];
  const waiters: Array<(c: { ws: WebSocket; url: URL }) => void> = [];
  wss.on('connection', function shapeServerOnConnection(ws, req) {
    ws.on('error', () => {});
    const entry = { ws, url: new URL(req.url ?? '/', `ws://127.0.0.1:${actual}`) };
    const waiter = waiters.shift();
    if (waiter) waiter(entry);
    else queue.push(entry);
  });
  let closed = false;
  const shutdown = async (hard: boolean) => {
    if (closed) return;
    closed = true;
    for (const client of wss.clients) hard ? client.terminate() : client.close(1001, 'server closing');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
  return {
    wss,
    port: actual,
    url: `ws://127.0.0.1:${actual}`,
    nextConnection(timeoutMs = 5000) {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), timeoutMs, 'a client connection');
    },
    kill: () => shutdown(true),
    close: () => shutdown(false),
  };
}

/** A resolvable promise for callback-style APIs (PixelSocket options). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Collects values pushed by a callback; `next(n)` waits until `n` have arrived. */
export class Inbox<T> {
  readonly items: T[] = [];
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  push = (item: T): void => {
    this.items.push(item);
    this.#waiters = this.#waiters.filter((w) => (this.items.length >= w.n ? (w.resolve(), false) : true));
  };

  async next(n: number, ms = 5000, what = `${n} item(s)`): Promise<T[]> {
    if (this.items.length < n) {
      const items = this.items;
      await withTimeout(new Promise<void>((resolve) => this.#waiters.push({ n, resolve })), ms, what)
        .catch((error: Error) => { throw new Error(`${error.message} (have ${items.length})`); });
    }
    return this.items.slice(0, n);
  }
}

export type TestImageKind = 'png' | 'jpeg' | 'gif' | 'webp-lossy' | 'webp-lossless' | 'webp-extended';

/** A real image of the given kind and size, encoded by sharp (libvips). */
export async function makeImage(kind: TestImageKind, width: number, height: number): Promise<Buffer> {
  const alpha = kind === 'webp-extended';
  const base = sharp({ create: { width, height, channels: alpha ? 4 : 3, background: alpha ? { r: 10, g: 200, b: 30, alpha: 0.5 } : '#3366cc' } });
  switch (kind) {
    case 'png': return base.png().toBuffer();
    case 'jpeg': return base.jpeg().toBuffer();
    case 'gif': return base.gif().toBuffer();
    case 'webp-lossy': return base.webp().toBuffer();
    case 'webp-lossless': return base.webp({ lossless: true }).toBuffer();
    case 'webp-extended': return base.webp().toBuffer();
  }
}
