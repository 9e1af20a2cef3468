import { Agent, createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import type { UrlGuard } from './url-guard.js';
import { checkResponseHead, faultDescription, faultStatus, upstreamRequestHeaders, type UpstreamFault } from './proxy-headers.js';

/** Header on a refusal, so a session can tell the proxy's 403 from a site's. */
export const REFUSED_HEADER = 'x-framehub-refused';
/** Header on the proxy's own 502/504 for a site that failed or misbehaved; its value is an `UpstreamFault`. */
export const UPSTREAM_ERROR_HEADER = 'x-framehub-upstream-error';

export interface GuardProxyOptions {
  /**
   * An upstream connection with no byte either way for this long is dropped: the page gets
   * 504 before the answer's head, a cut body after it. Longer than a session's 20 s navigation
   * timeout, so a slow page fails as a navigation timeout; this only reclaims the connection.
   * @default 30000
   */
  idleTimeoutMs?: number;
  /** A CONNECT tunnel's TCP connection must be up within this; else 504. @default 10000 */
  connectTimeoutMs?: number;
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
// Idle keep-alive connections to sites: kept briefly, so a page's subresources reuse them.
const FREE_SOCKET_TIMEOUT_MS = 4_000;

/** The error an upstream request is destroyed with when it stays silent too long. */
class UpstreamTimeout extends Error {
  override readonly name = 'UpstreamTimeout';
}

/**
 * A forward proxy on 127.0.0.1 that every Chromium connection goes through. It checks each
 * host with the URL guard and connects to exactly the address it checked. Playwright's
 * request routing does not see redirect hops; a proxy sees every hop, every subresource and
 * every WebSocket (tunnelled with CONNECT), and closes the DNS-rebinding gap between checking
 * a name and Chromium resolving it again.
 *
 * Nothing a site sends may end this process: an answer's status and headers are checked before
 * they are passed on (502 for anything malformed, 504 for silence), bodies stream with
 * `pipeline` (an error on either side destroys the other, so a broken body ends the page's
 * load at once), and every socket and stream has an `error` listener.
 */
export class GuardProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Duplex>();
  readonly #agent: Agent;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;

  constructor(private readonly guard: UrlGuard, options: GuardProxyOptions = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    // Its own agent: the process-wide one is shared with framehub's other clients, and close() ends this one.
    this.#agent = new Agent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS });
    const onRequest = this.#onRequest;
    const onConnect = this.#onConnect;
    // The handlers are async; whatever a page makes them do must not become an unhandled rejection.
    this.#server = createServer(function proxyOnRequest(req, res) {
      onRequest(req, res).catch(() => res.destroy());
    });
    this.#server.on('connect', function proxyOnConnect(req: IncomingMessage, client: Duplex, head: Buffer) {
      onConnect(req, client, head).catch(() => client.destroy());
    });
    this.#server.on('connection', (socket: Socket) => this.#track(socket));
    // An accept() failure (EMFILE) is emitted on the server; without a listener it would end the process.
    this.#server.on('error', function proxyServerOnError() {});
  }

  /** Starts listening on a free loopback port; resolves with the proxy URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address();
    if (typeof address !== 'object' || !address) throw new Error('guard proxy has no address');
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#agent.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  /** Plain http: the request line holds the absolute URL. */
  readonly #onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.on('error', function proxyResponseOnError() {});
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return refuse(res, 400, 'this is a proxy; requests need an absolute URL');
    }
    if (url.protocol !== 'http:') return refuse(res, 400, `scheme ${url.protocol} is not allowed`);
    const verdict = await this.guard.admit(url.hostname);
    if (!verdict.ok) return refuse(res, 403, verdict.reason);
    if (res.destroyed) return;
    const upstream = httpRequest({
      host: verdict.address,
      port: url.port || 80,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: upstreamRequestHeaders(req.rawHeaders, url.host),
      agent: this.#agent,
      timeout: this.#idleTimeoutMs,
    });
    relay(req, res, upstream);
  };

  /** https and WebSockets: a tunnel to host:port, opened only after the check. */
  readonly #onConnect = async (req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> => {
    // The socket is tracked since 'connection'; Node dropped its own error listener for the tunnel.
    client.on('error', function tunnelClientOnError() {});
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) return endTunnel(client, 400, 'Bad Request', 'CONNECT needs host:port');
    const verdict = await this.guard.admit(match[1]!);
    if (!verdict.ok) return endTunnel(client, 403, 'Forbidden', verdict.reason);
    if (client.destroyed) return;
    const upstream = connect(Number(match[2]), verdict.address);
    this.#track(upstream);
    let open = false;
    upstream.on('error', function tunnelUpstreamOnError() {
      // Before the 200 the page can still be told; after it, the bytes belong to the tunnel.
      if (!open) endTunnel(client, 502, 'Bad Gateway', faultDescription('unreachable'), 'unreachable');
      else client.destroy();
    });
    upstream.setTimeout(this.#connectTimeoutMs, function tunnelUpstreamOnTimeout() {
      if (open) return;
      upstream.destroy();
      endTunnel(client, 504, 'Gateway Timeout', faultDescription('timeout'), 'timeout');
    });
    const tunnelClientOnClose = (): void => {
      upstream.destroy();
    };
    client.once('close', tunnelClientOnClose);
    upstream.once('connect', function tunnelUpstreamOnConnect() {
      open = true;
      client.off('close', tunnelClientOnClose); // the pipelines take over
      // A tunnel may idle for long (a quiet WebSocket); only the connect was timed.
      upstream.setTimeout(0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      const tunnelDone = (): void => {
        upstream.destroy();
        client.destroy();
      };
      pipeline(upstream, client, tunnelDone);
      pipeline(client, upstream, tunnelDone);
    });
  };
}

/**
 * Sends the page's request upstream and the answer back. The request body and the response body
 * each go through `pipeline`; whatever fails, the page gets one answer: the site's (checked), a
 * 502/504 from the proxy while no head was sent, or a cut connection once one was.
 */
function relay(req: IncomingMessage, res: ServerResponse, upstream: ClientRequest): void {
  // waiting: no head sent to the page yet; streaming: head sent, body under way; done: nothing more to say.
  let state: 'waiting' | 'streaming' | 'done' = 'waiting';
  const fail = (fault: UpstreamFault): void => {
    upstream.destroy();
    if (state === 'waiting') answerFault(res, fault);
    // A head and part of a body reached the page: cut the connection, so its load ends now, as broken.
    else if (state === 'streaming') res.destroy();
    state = 'done';
  };
  upstream.on('error', function upstreamOnError(error: Error & { code?: string }) {
    fail(faultOf(error));
  });
  upstream.on('timeout', function upstreamOnTimeout() {
    upstream.destroy(new UpstreamTimeout('the site was silent too long'));
  });
  // Upgrade headers are never forwarded, so a 101 answers a question nobody asked.
  upstream.on('upgrade', function upstreamOnUpgrade(_response: IncomingMessage, socket: Socket) {
    socket.on('error', function upgradedSocketOnError() {});
    socket.destroy();
    fail('status');
  });
  upstream.on('response', function upstreamOnResponse(response: IncomingMessage) {
    response.on('error', function upstreamResponseOnError() {});
    if (state !== 'waiting') return void response.destroy();
    const head = checkResponseHead(response.statusCode, response.statusMessage, response.rawHeaders);
    if (typeof head === 'string') {
      response.destroy();
      return fail(head);
    }
    if (res.destroyed) return fail('closed');
    try {
      res.writeHead(head.status, head.statusText, head.headers);
    } catch {
      // checkResponseHead applies Node's own rules; should they ever differ, nothing was sent yet.
      response.destroy();
      return fail('header');
    }
    state = 'streaming';
    // The head goes out now, not with the first body bytes: a body that breaks off at once
    // still shows the page the site's status, then a cut body.
    res.flushHeaders();
    pipeline(response, res, function responseBodyDone(error) {
      if (error) fail('closed');
      else state = 'done';
    });
  });
  // No head and no error (Node drops some answers silently): the page must still get an answer.
  upstream.on('close', function upstreamOnClose() {
    if (state === 'waiting') fail('closed');
  });
  // The page went away before its answer was complete: so does the upstream request.
  res.on('close', function proxyResponseOnClose() {
    if (!res.writableFinished) upstream.destroy();
  });
  pipeline(req, upstream, function requestBodyDone(error) {
    if (error) fail(faultOf(error));
  });
}

function faultOf(error: Error & { code?: string }): UpstreamFault {
  if (error instanceof UpstreamTimeout) return 'timeout';
  if (error.code?.startsWith('HPE_')) return 'malformed';
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EAI_AGAIN', 'ENOTFOUND'].includes(error.code ?? '')) return 'unreachable';
  return 'closed';
}

/** The proxy's own 502/504: a short plain sentence, its fault in a header the site cannot forge. */
function answerFault(res: ServerResponse, fault: UpstreamFault): void {
  if (res.destroyed) return;
  if (res.headersSent) return void res.destroy();
  const body = `framehub guard proxy: ${faultDescription(fault)}\n`;
  try {
    res.writeHead(faultStatus(fault), {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      [UPSTREAM_ERROR_HEADER]: fault,
    });
    res.end(body);
  } catch {
    // Called from listeners, which must not throw: a page that cannot be told is cut instead.
    res.destroy();
  }
}

function refuse(res: ServerResponse, status: number, reason: string): void {
  const body = `<!doctype html><title>Refused</title><p>framehub refused this request: ${escapeHtml(reason)}</p>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    [REFUSED_HEADER]: encodeURIComponent(reason),
  });
  res.end(body);
}

/** Answers a CONNECT that will not become a tunnel: a refusal by the guard, or an upstream `fault`. */
function endTunnel(client: Duplex, status: number, text: string, reason: string, fault?: UpstreamFault): void {
  const header = fault ? `${UPSTREAM_ERROR_HEADER}: ${fault}` : `${REFUSED_HEADER}: ${encodeURIComponent(reason)}`;
  if (client.writable) client.end(`HTTP/1.1 ${status} ${text}\r\n${header}\r\nContent-Length: 0\r\n\r\n`);
  else client.destroy();
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
