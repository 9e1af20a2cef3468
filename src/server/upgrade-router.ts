import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export type UpgradeHandler = (ws: WebSocket, req: IncomingMessage, url: URL, params: Record<string, string>) => void;

interface Route {
  pattern: RegExp;
  keys: string[];
  handler: UpgradeHandler;
}

/** Paths other listeners on the same HTTP server own (Socket.IO's engine handles its own upgrades). */
const FOREIGN_PREFIXES = ['/socket.io/'];

/**
 * Routes WebSocket upgrades by path to handlers, all on one `ws` server in noServer mode, so
 * every route shares `maxPayload`, client tracking and the heartbeat.
 */
export class UpgradeRouter {
  readonly wss: WebSocketServer;
  readonly #routes: Route[] = [];

  constructor(
    maxPayload: number,
    private readonly onHandlerError: (error: unknown) => void = () => {},
  ) {
    // Compression off: frames are already compressed images, deflate would only burn CPU.
    this.wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: true });
  }

  /** `path` may hold `:name` segments, e.g. `/stream/:id`. */
  add(path: string, handler: UpgradeHandler): void {
    const keys: string[] = [];
    const source = path.replace(/:([A-Za-z]+)/g, (_, key: string) => {
      keys.push(key);
      return '([^/]+)';
    });
    this.#routes.push({ pattern: new RegExp(`^${source}/?$`), keys, handler });
  }

  attach(server: Server): void {
    server.on('upgrade', this.#serverOnUpgrade);
  }

  readonly #serverOnUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return reject(socket, 400, 'Bad Request');
    }
    if (FOREIGN_PREFIXES.some((prefix) => url.pathname.startsWith(prefix))) return;
    for (const route of this.#routes) {
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      const params: Record<string, string> = {};
      try {
        route.keys.forEach((key, i) => (params[key] = decodeURIComponent(match[i + 1]!)));
      } catch {
        return reject(socket, 400, 'Bad Request');
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        // In noServer mode ws leaves 'connection' to us; the heartbeat listens for it.
        this.wss.emit('connection', ws, req);
        try {
          route.handler(ws, req, url, params);
        } catch (error) {
          // A bug in one handler costs that one connection, never the process.
          this.onHandlerError(error);
          ws.close(1011, 'internal error');
        }
      });
      return;
    }
    reject(socket, 404, 'Not Found');
  };
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
