import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter, once } from 'node:events';
import sharp from 'sharp';
import { WebSocket, type RawData } from 'ws';
import type { Config } from '../src/config/config.js';
import { startServer, type TestServer } from './helpers.js';

export const PRODUCER_TOKEN = 'test-producer-token-0123';
export const JWT_SECRET = 'test-jwt-secret-0123456789abcdef';

export interface GenServer extends TestServer {
  imageDir: string;
  /** POST/GET with the producer token. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  publishImage(jobId: string, bytes: Buffer, query?: Record<string, string | number>): Promise<{ status: number; json: any }>;
}

/** A real framehub with publishing on, images in a fresh temporary directory (removed on close). */
export async function startGenServer(overrides: Partial<Config> = {}): Promise<GenServer> {
  const imageDir = await mkdtemp(join(tmpdir(), 'framehub-gen-'));
  const server = await startServer({ producerToken: PRODUCER_TOKEN, imageDir, ...overrides });
  const api: GenServer['api'] = async (method, path, body, headers = {}) => {
    const response = await fetch(server.http + path, {
      method,
      headers: {
        authorization: `Bearer ${PRODUCER_TOKEN}`,
        ...(body !== undefined && typeof body === 'object' && !Buffer.isBuffer(body) && { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body !== undefined && { body: Buffer.isBuffer(body) ? new Uint8Array(body) : typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, json };
  };
  return {
    ...server,
    imageDir,
    api,
    publishImage: (jobId, bytes, query = {}) => {
      const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      return api('POST', `/api/generations/${jobId}/images${qs ? `?${qs}` : ''}`, bytes, { 'content-type': 'image/png' });
    },
    async close() {
      await server.close();
      await rm(imageDir, { recursive: true, force: true });
    },
  };
}

/** A small PNG whose colour encodes `n`, so every image differs. */
export function numberedPng(n: number, size = 16): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r: n & 255, g: (n >> 8) & 255, b: 77 } } }).png().toBuffer();
}

/** A PNG of random noise (incompressible): `side`² × 3 bytes of payload. */
export function noisePng(side: number): Promise<Buffer> {
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (Math.random() * 256) | 0;
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

/**
 * A minimal consumer of one route: parses every text message and hands it to `onMessage`;
 * `kill()` drops the TCP connection without a close handshake, like a crashed client.
 */
export class Consumer {
  readonly messages: any[] = [];
  ws!: WebSocket;
  #waiters: { predicate: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly onMessage: (message: any) => void = () => {}) {}

  async connect(url: string, options?: ConstructorParameters<typeof WebSocket>[2], protocols?: string | string[]): Promise<this> {
    const ws = new WebSocket(url, protocols, options);
    this.ws = ws;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      const message = JSON.parse(data.toString());
      this.messages.push(message);
      this.onMessage(message);
      this.#check();
    });
    await once(ws, 'open');
    return this;
  }

  /** Resolves when `predicate` holds (checked on every message), rejects after `timeoutMs`. */
  until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.#waiters.push({ predicate, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  kill(): void {
    this.ws.terminate();
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.predicate()) return true;
      w.resolve();
      return false;
    });
  }
}

/** The SHA-256 of image bytes, hex: compares what a client received with what was published. */
export const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Publishes `images` one after another over HTTP (`img_<i>.png`), each answered 201;
 * `atLeast(n)` resolves once `n` (or all) are published.
 */
export function startProducer(srv: GenServer, jobId: string, images: Buffer[]) {
  const progress = new EventEmitter();
  let published = 0;
  const done = (async () => {
    for (let i = 0; i < images.length; i++) {
      const { status, json } = await srv.publishImage(jobId, images[i]!, { imageIdx: i, imageLength: images.length, filename: `img_${i}.png` });
      assert.equal(status, 201, JSON.stringify(json));
      published++;
      progress.emit('published', published);
    }
  })();
  return {
    done,
    get published() { return published; },
    async atLeast(n: number) {
      while (published < Math.min(n, images.length)) await once(progress, 'published');
    },
  };
}

/** Resolves with the close code and reason, or rejects after `timeoutMs`. */
export function closedWithin(ws: WebSocket, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) return reject(new Error('socket already closed'));
    const timer = setTimeout(() => reject(new Error('socket did not close in time')), timeoutMs);
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}
