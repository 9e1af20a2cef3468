import { once } from 'node:events';
import { WebSocket, type RawData } from 'ws';
import { loadConfig, type Config } from '../src/config/config.js';
import { createServer, type FramehubServer } from '../src/server/create-server.js';

export interface TestServer {
  server: FramehubServer;
  http: string;
  ws: string;
  port: number;
  close(): Promise<void>;
}

/** A real framehub on 127.0.0.1 and a free port, quiet logs, small demo frames unless told otherwise. */
export async function startServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const config = loadConfig({
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      idleGrace: 0.2,
      streams: { demo: { source: 'pattern', width: 320, height: 180, fps: 30 } },
      ...overrides,
    },
  });
  const server = await createServer(config);
  const { port } = await server.listen();
  return {
    server,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    close: () => server.close(),
  };
}

export async function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return ws;
}

/** Resolves with the next message matching `predicate` (text parsed as JSON). */
export function nextJson<T = any>(ws: WebSocket, predicate: (message: any) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      const message = JSON.parse(data.toString());
      if (!predicate(message)) return;
      cleanup();
      resolve(message);
    };
    const onClose = (code: number, reason: Buffer) => {
      cleanup();
      reject(new Error(`socket closed (${code} ${reason}) before the expected message`));
    };
    const cleanup = () => {
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}

export function nextBinary(ws: WebSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (!isBinary) return;
      cleanup();
      resolve(data as Buffer);
    };
    const onClose = (code: number) => {
      cleanup();
      reject(new Error(`socket closed (${code}) before a binary message`));
    };
    const cleanup = () => {
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}

/** Resolves with the close code and reason. */
export async function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('socket already closed');
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}

/** Collects `n` messages of the given kind. */
export async function collectJson(ws: WebSocket, n: number, predicate: (message: any) => boolean): Promise<any[]> {
  const out: any[] = [];
  while (out.length < n) out.push(await nextJson(ws, predicate));
  return out;
}
