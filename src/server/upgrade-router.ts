import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode } from '../wire/close-codes.js';
import { ConnectionCaps } from './connection-caps.js';
import { closeSocket } from './ws-close.js';
import { SOCKET_IO_PATH } from './socket-io.js';

export type UpgradeHandler = (ws: WebSocket, req: IncomingMessage, url: URL, params: Record<string, string>) => void;

export interface UpgradeRouterOptions {
  maxPayload: number;
  /** Shared with Socket.IO: one count of connections per address over every route. */
  caps: ConnectionCaps;
  /** Refuses an upgrade whose Host header it does not accept (DNS rebinding); unset = all. */
  allowHost?: (host: string | undefined) => boolean;
  /** A handler threw, or a socket failed: logged, never rethrown. */
  log: { error(context: object, message: string): void; debug(context: object, message: string): void };
}

interface Route {
  /** Literal segments, and `undefined` where a `:name` parameter goes. */
  segments: (string | undefined)[];
  keys: string[];
  handler: UpgradeHandler;
}


/**
 * Routes WebSocket upgrades by path to handlers, all on one `ws` server in noServer mode, so
 * every route shares `maxPayload`, client tracking, the heartbeat and the connection caps.
 *
 * Everything that can go wrong with an upgrade is answered here, in one place, before a route
 * runs: the raw socket and the WebSocket get their `error` listeners at once (Node ends the
 * process on an `error` nobody listens to, and `ws` emits one for every protocol violation,
 * even on a socket a route has just refused), a target with dot segments or bad
 * percent-encoding is answered `400`, an unknown path `404`, a connection over a cap is closed
 * with 1013, and a handler that throws costs its one connection (1011).
 */
export class UpgradeRouter {
  readonly wss: WebSocketServer;
  readonly #routes: Route[] = [];

  constructor(private readonly options: UpgradeRouterOptions) {
    // Compression off: frames are already compressed images, deflate would only burn CPU.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, perMessageDeflate: false, clientTracking: true });
  }

  /** `path` may hold `:name` segments, e.g. `/stream/:id`. */
  add(path: string, handler: UpgradeHandler): void {
    const keys: string[] = [];
    const segments = path.split('/').slice(1).map((segment) => {
      if (!segment.startsWith(':')) return segment;
      keys.push(segment.slice(1));
      return undefined;
    });
    this.#routes.push({ segments, keys, handler });
  }

  attach(server: Server): void {
    server.on('upgrade', this.#serverOnUpgrade);
  }

  readonly #serverOnUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', this.#rawSocketOnError);
    const target = req.url ?? '';
    // engine.io claims every upgrade whose raw target starts with its path, without normalising
    // it (`check()` in its `attach`); deciding on the same raw target gives each upgrade exactly
    // one owner: never two 101s, never none. Its allowRequest checks Host and the caps.
    if (target.startsWith(SOCKET_IO_PATH)) return;
    if (this.options.allowHost && !this.options.allowHost(req.headers.host)) return reject(socket, 403, 'Forbidden');
    const segments = pathSegments(target);
    if (!segments) return reject(socket, 400, 'Bad Request');
    for (const route of this.#routes) {
      const params = match(route, segments);
      if (!params) continue;
      let url: URL;
      try {
        url = new URL(target, 'http://localhost');
      } catch {
        return reject(socket, 400, 'Bad Request');
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req, url, params, route.handler));
      return;
    }
    reject(socket, 404, 'Not Found');
  };

  #accept(ws: WebSocket, req: IncomingMessage, url: URL, params: Record<string, string>, handler: UpgradeHandler): void {
    ws.on('error', this.#socketOnError);
    // In noServer mode ws leaves 'connection' to us; the heartbeat listens for it.
    this.wss.emit('connection', ws, req);
    const caps = this.options.caps;
    const taken = caps.take(req.socket.remoteAddress ?? '');
    if (typeof taken === 'string') return closeSocket(ws, CloseCode.TryAgainLater, ConnectionCaps.describe(taken, caps));
    ws.once('close', taken.release);
    try {
      handler(ws, req, url, params);
    } catch (error) {
      // A bug in one handler costs that one connection, never the process.
      this.options.log.error({ err: error, path: url.pathname }, 'websocket route handler failed');
      closeSocket(ws, CloseCode.InternalError, 'internal error');
    }
  }

  readonly #rawSocketOnError = (error: Error): void => {
    this.options.log.debug({ err: error }, 'upgrade socket error');
  };

  readonly #socketOnError = (error: Error): void => {
    // ws emits protocol violations here (1009 over maxPayload, invalid UTF-8, bad opcodes) and closes by itself.
    this.options.log.debug({ err: error }, 'websocket error');
  };
}

/**
 * The decoded segments of a request target's path, or `undefined` when it is not an
 * origin-form target, holds bad percent-encoding, or holds a dot segment (`.`, `..`, also
 * encoded): what a client means by `/ws/../x` depends on who normalises, so it is refused.
 */
function pathSegments(target: string): string[] | undefined {
  if (!target.startsWith('/')) return undefined;
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  const segments: string[] = [];
  for (const raw of path.split('/').slice(1)) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === '.' || segment === '..') return undefined;
    segments.push(segment);
  }
  return segments;
}

/** The route's parameters if `segments` match it (one trailing slash allowed), else `undefined`. */
function match(route: Route, segments: string[]): Record<string, string> | undefined {
  const length = segments.length === route.segments.length + 1 && segments.at(-1) === '' ? route.segments.length : segments.length;
  if (length !== route.segments.length) return undefined;
  const params: Record<string, string> = {};
  let key = 0;
  for (let i = 0; i < length; i++) {
    const expected = route.segments[i];
    const actual = segments[i]!;
    if (expected === undefined) {
      if (actual === '') return undefined;
      params[route.keys[key++]!] = actual;
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
