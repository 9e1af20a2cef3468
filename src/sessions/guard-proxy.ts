import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UrlGuard } from './url-guard.js';

/** Header on a refusal, so a session can tell the proxy's 403 from a site's. */
export const REFUSED_HEADER = 'x-framehub-refused';

// Hop-by-hop headers a proxy must not forward (RFC 9110 7.6.1).
const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

/**
 * A forward proxy on 127.0.0.1 that every Chromium connection goes through. It checks each
 * host with the URL guard and connects to exactly the address it checked. Playwright's
 * request routing does not see redirect hops; a proxy sees every hop, every subresource and
 * every WebSocket (tunnelled with CONNECT), and closes the DNS-rebinding gap between checking
 * a name and Chromium resolving it again.
 */
export class GuardProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Duplex>();

  constructor(private readonly guard: UrlGuard) {
    // The handlers are async; whatever a page makes them do must not become an unhandled rejection.
    this.#server = createServer((req, res) => {
      this.#onRequest(req, res).catch(() => res.destroy());
    });
    this.#server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
      this.#onConnect(req, client, head).catch(() => client.destroy());
    });
    this.#server.on('connection', (socket: Socket) => this.#track(socket));
  }

  /** Starts listening on a free loopback port; resolves with the proxy URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.#server.address();
    if (typeof address !== 'object' || !address) throw new Error('guard proxy has no address');
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  /** Plain http: the request line holds the absolute URL. */
  readonly #onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return refuse(res, 400, 'this is a proxy; requests need an absolute URL');
    }
    if (url.protocol !== 'http:') return refuse(res, 400, `scheme ${url.protocol} is not allowed`);
    const verdict = await this.guard.admit(url.hostname);
    if (!verdict.ok) return refuse(res, 403, verdict.reason);
    const headers = { ...req.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    if (res.destroyed) return;
    const upstream = httpRequest({
      host: verdict.address,
      port: url.port || 80,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
    }, (response) => {
      const out = { ...response.headers };
      for (const name of HOP_BY_HOP) delete out[name];
      res.writeHead(response.statusCode ?? 502, response.statusMessage, out);
      response.pipe(res);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) refuse(res, 502, `upstream failed: ${error.message}`, false);
      else res.destroy();
    });
    req.pipe(upstream);
  };

  /** https and WebSockets: a tunnel to host:port, opened only after the check. */
  readonly #onConnect = async (req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> => {
    this.#track(client);
    client.on('error', () => {});
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) return endTunnel(client, 400, 'Bad Request', 'CONNECT needs host:port');
    const verdict = await this.guard.admit(match[1]!);
    if (!verdict.ok) return endTunnel(client, 403, 'Forbidden', verdict.reason);
    const upstream = connect(Number(match[2]), verdict.address);
    this.#track(upstream);
    upstream.on('error', () => endTunnel(client, 502, 'Bad Gateway', 'upstream failed'));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  };
}

function refuse(res: ServerResponse, status: number, reason: string, fromGuard = true): void {
  const body = `<!doctype html><title>Refused</title><p>framehub refused this request: ${escapeHtml(reason)}</p>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    ...(fromGuard && { [REFUSED_HEADER]: encodeURIComponent(reason) }),
  });
  res.end(body);
}

function endTunnel(client: Duplex, status: number, text: string, reason: string): void {
  if (client.writable) client.end(`HTTP/1.1 ${status} ${text}\r\n${REFUSED_HEADER}: ${encodeURIComponent(reason)}\r\nContent-Length: 0\r\n\r\n`);
  else client.destroy();
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
