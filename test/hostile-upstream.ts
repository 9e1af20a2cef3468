import { createServer, type Server, type Socket } from 'node:net';
import { listenLocal } from './listen-local.js';

/**
 * A web server that misbehaves on purpose, for the guard proxy's tests and the fuzzer.
 * It is a raw `net` server writing raw bytes, so it can send what Node's own http server
 * would refuse to: each path is one behaviour. Every answer closes its connection.
 *
 * | path | what it sends |
 * | --- | --- |
 * | `/ok` | a well-formed `200` HTML page (the control case) |
 * | `/status-099` | `HTTP/1.1 099 Oops` |
 * | `/status-101` | `101 Switching Protocols` nobody asked for |
 * | `/status-600` | `HTTP/1.1 600 Beyond` |
 * | `/status-999` | `HTTP/1.1 999 Way Beyond` |
 * | `/interim-then-ok` | `100 Continue` and `103 Early Hints`, then a well-formed `200` with body `hi` |
 * | `/status-text-control` | `HTTP/1.1 200 O\x01K` (a control character in the reason phrase) |
 * | `/status-line-garbage` | `HTTP/1.1 2x0 Hm` |
 * | `/header-name-invalid` | a header named `Bad Name` (a space in a name) |
 * | `/header-name-control` | a header whose name holds `\x01` |
 * | `/header-value-control` | a header value holding `\x00` |
 * | `/header-value-del` | a header value holding `\x7f` |
 * | `/header-reserved` | `200` with headers the proxy keeps for itself (`x-framehub-refused`, `x-framehub-upstream-error`) and hop-by-hop ones (`proxy-authenticate`, `keep-alive`, `connection: x-hop` with `x-hop`) beside `x-kept: yes` |
 * | `/content-length-duplicate` | two `Content-Length` headers that disagree |
 * | `/content-length-and-chunked` | `Content-Length` and `Transfer-Encoding: chunked` together |
 * | `/content-length-invalid` | `Content-Length: 12abc` |
 * | `/huge-headers` | 64 KiB of headers (Node's limit is 16 KiB) |
 * | `/huge-header-count` | 5,000 small headers |
 * | `/truncated` | `Content-Length: 1000000`, 1,000 bytes of body, then a clean close (FIN) |
 * | `/truncated-html` | the same for an HTML document (what a browser page load sees) |
 * | `/truncated-chunked` | a chunked body that closes before its last chunk |
 * | `/stall-mid-body` | `Content-Length: 1000`, 10 bytes of body, then silence with the connection open |
 * | `/endless` | a chunked body that never ends (16 KiB chunks, as fast as the reader takes them) |
 * | `/bad-chunk` | a chunked body whose second chunk size is `zz` |
 * | `/chunk-overflow` | a chunked body whose chunk size is `ffffffffffffffffff` |
 * | `/silent` | accepts the request and never answers |
 * | `/reset` | resets the connection (TCP RST) without answering |
 * | `/reset-mid-body` | headers and part of the body, then a TCP RST |
 * | `/echo-headers` | `200 text/plain` whose body is the request head as received |
 * | `/page-of-hostile-images` | an HTML page embedding every fast-failing path above as an `<img>` |
 *
 * Any other path gets a well-formed `404`.
 */
export interface HostileUpstream {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** `origin + path` */
  url(path: HostilePath): string;
  /** Connections accepted and not yet closed. */
  readonly openConnections: number;
  /** Connections accepted since the start. */
  readonly acceptedConnections: number;
  /** Bytes handed to the kernel on every connection so far (an endless body stops growing it when nobody reads). */
  readonly bytesSent: number;
  /** Resolves once no accepted connection is open (at once if none is). */
  whenIdle(): Promise<void>;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/** Every behaviour, by path (see the table on `HostileUpstream`). */
export const HOSTILE_PATHS = [
  '/ok', '/status-099', '/status-101', '/status-600', '/status-999', '/interim-then-ok', '/status-text-control', '/status-line-garbage',
  '/header-name-invalid', '/header-name-control', '/header-value-control', '/header-value-del', '/header-reserved',
  '/content-length-duplicate', '/content-length-and-chunked', '/content-length-invalid', '/huge-headers', '/huge-header-count',
  '/truncated', '/truncated-html', '/truncated-chunked', '/stall-mid-body', '/endless', '/bad-chunk', '/chunk-overflow',
  '/silent', '/reset', '/reset-mid-body', '/echo-headers', '/page-of-hostile-images',
] as const;

export type HostilePath = (typeof HOSTILE_PATHS)[number];

/** Paths whose misbehaviour is over at once (no endless body, no silence): safe to embed in a page. */
export const FAST_FAILING_PATHS: readonly HostilePath[] = HOSTILE_PATHS.filter(
  (p) => !['/ok', '/interim-then-ok', '/stall-mid-body', '/endless', '/silent', '/echo-headers', '/page-of-hostile-images'].includes(p),
);

const OK_PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>ok</title><style>html,body{margin:0;height:100%;background:rgb(20,160,20)}</style></head><body></body></html>';
const REQUEST_HEAD_LIMIT = 64 * 1024;
const ENDLESS_CHUNK = Buffer.alloc(16 * 1024, 'x');

type Behaviour = (socket: Socket, head: string) => void;

/** A head and body, then a clean close. */
function reply(socket: Socket, head: string, body: string | Buffer = ''): void {
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]));
}

function wellFormed(status: string, type: string, body: string): Behaviour {
  return (socket) => reply(socket, `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`, body);
}

function raw(head: string, body = ''): Behaviour {
  return (socket) => reply(socket, head, body);
}

function hostilePage(): string {
  const images = FAST_FAILING_PATHS.map((p) => `<img src="${p}" width="8" height="8">`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>hostile images</title></head><body>${images}</body></html>`;
}

const BEHAVIOURS: Record<HostilePath, Behaviour> = {
  '/ok': wellFormed('200 OK', 'text/html; charset=utf-8', OK_PAGE),
  '/status-099': raw('HTTP/1.1 099 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\n', 'hi'),
  '/status-101': raw('HTTP/1.1 101 Switching Protocols\r\nUpgrade: nonsense\r\nConnection: Upgrade\r\n\r\n', 'junk after the switch'),
  '/status-600': raw('HTTP/1.1 600 Beyond\r\nContent-Length: 2\r\nConnection: close\r\n\r\n', 'hi'),
  '/status-999': raw('HTTP/1.1 999 Way Beyond\r\nContent-Length: 2\r\nConnection: close\r\n\r\n', 'hi'),
  '/interim-then-ok': raw(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n'
    + 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n',
    'hi',
  ),
  '/status-text-control': raw('HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\nConnection: close\r\n\r\n', 'hi'),
  '/status-line-garbage': raw('HTTP/1.1 2x0 Hm\r\nContent-Length: 2\r\n\r\n', 'hi'),
  '/header-name-invalid': raw('HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\n', 'hi'),
  '/header-name-control': raw('HTTP/1.1 200 OK\r\nX-\x01: x\r\nContent-Length: 2\r\n\r\n', 'hi'),
  '/header-value-control': raw('HTTP/1.1 200 OK\r\nX-Value: a\x00b\r\nContent-Length: 2\r\n\r\n', 'hi'),
  '/header-value-del': raw('HTTP/1.1 200 OK\r\nX-Value: a\x7fb\r\nContent-Length: 2\r\n\r\n', 'hi'),
  '/header-reserved': raw(
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Framehub-Refused: spoofed\r\nX-Framehub-Upstream-Error: spoofed\r\n'
    + 'Proxy-Authenticate: Basic realm="x"\r\nKeep-Alive: timeout=5\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nX-Kept: yes\r\n'
    + 'Content-Length: 2\r\n\r\n',
    'hi',
  ),
  '/content-length-duplicate': raw('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n', 'hello'),
  '/content-length-and-chunked': raw('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'),
  '/content-length-invalid': raw('HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n', 'hi'),
  '/huge-headers': raw(`HTTP/1.1 200 OK\r\n${Array.from({ length: 64 }, (_, i) => `X-Big-${i}: ${'a'.repeat(1000)}\r\n`).join('')}Content-Length: 2\r\n\r\n`, 'hi'),
  '/huge-header-count': raw(`HTTP/1.1 200 OK\r\n${Array.from({ length: 5000 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}Content-Length: 2\r\n\r\n`, 'hi'),
  '/truncated': raw('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n', 'x'.repeat(1000)),
  '/truncated-html': raw(
    'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 1000000\r\n\r\n',
    `<!doctype html><html><head><title>truncated</title></head><body><p>${'half a page '.repeat(80)}`,
  ),
  '/truncated-chunked': raw('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n5\r\nwor'),
  '/stall-mid-body': (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789');
  },
  '/endless': endless,
  '/bad-chunk': raw('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n'),
  '/chunk-overflow': raw('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'ffffffffffffffffff\r\nhello\r\n0\r\n\r\n'),
  '/silent': () => {},
  '/reset': (socket) => socket.resetAndDestroy(),
  '/reset-mid-body': (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000), () => socket.resetAndDestroy());
  },
  '/echo-headers': (socket, head) => wellFormed('200 OK', 'text/plain; charset=utf-8', head)(socket, head),
  '/page-of-hostile-images': (socket, head) => wellFormed('200 OK', 'text/html; charset=utf-8', hostilePage())(socket, head),
};

/** 16 KiB chunks for as long as the reader keeps reading; waits for `drain`, so it holds no more than a socket buffer. */
function endless(socket: Socket): void {
  socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
  const chunk = Buffer.concat([Buffer.from(`${ENDLESS_CHUNK.length.toString(16)}\r\n`), ENDLESS_CHUNK, Buffer.from('\r\n')]);
  const pump = (): void => {
    while (!socket.destroyed && socket.writable) {
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/** Starts the hostile server on 127.0.0.1 and a free port. */
export async function startHostileUpstream(): Promise<HostileUpstream> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let sentByClosed = 0;
  const idleWaiters: Array<() => void> = [];

  const server: Server = createServer(function hostileOnConnection(socket) {
    // The peer (the proxy) may reset at any moment; that is the point of the exercise.
    socket.on('error', function hostileSocketOnError() {});
    accepted++;
    sockets.add(socket);
    socket.once('close', function hostileSocketOnClose() {
      sentByClosed += socket.bytesWritten;
      sockets.delete(socket);
      if (sockets.size === 0) for (const resolve of idleWaiters.splice(0)) resolve();
    });
    let head = '';
    let answered = false;
    socket.on('data', function hostileSocketOnData(chunk: Buffer) {
      if (answered) return; // one request a connection; what follows is ignored
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > REQUEST_HEAD_LIMIT) socket.destroy();
        return;
      }
      const request = head.slice(0, end + 4);
      answered = true;
      const target = request.split(' ')[1] ?? '/';
      let path: string;
      try {
        path = new URL(target, 'http://upstream.invalid').pathname;
      } catch {
        path = '/';
      }
      const behaviour = (BEHAVIOURS as Record<string, Behaviour | undefined>)[path] ?? wellFormed('404 Not Found', 'text/plain', 'no such path');
      behaviour(socket, request);
    });
  });
  server.on('error', function hostileServerOnError() {});
  const port = await listenLocal(server);
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    port,
    url: (path) => `${origin}${path}`,
    get openConnections() {
      return sockets.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    get bytesSent() {
      let sum = sentByClosed;
      for (const socket of sockets) sum += socket.bytesWritten;
      return sum;
    },
    whenIdle: () => sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
