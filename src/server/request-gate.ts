import type { IncomingHttpHeaders } from 'node:http';
import type { onRequestHookHandler } from 'fastify';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { hostCheck } from './host-check.js';

/**
 * Refuses a request, upgrade or Socket.IO handshake (both transports) before any route sees it,
 * or returns `undefined`. One gate for every way in, so a route cannot be added without it.
 */
export type RequestGate = (headers: IncomingHttpHeaders) => FramehubError | undefined;

export interface GateOptions {
  host: string;
  publicHosts: string;
  /** Comma list of origins (`https://app.example`, `null` for file: and WebView pages, `*` for any). */
  allowedOrigins: string;
}

/**
 * Two checks. `Host`: against DNS rebinding (host-check.ts). `Origin`: a browser sends it with
 * every WebSocket handshake and every cross-origin fetch; a page on another origin is refused
 * unless listed in `allowedOrigins`, because leaving out CORS headers only stops the page from
 * reading an answer, not the click, the input or the DELETE it sends. Clients that send no
 * `Origin` (the seeds' Python and Node clients, curl) are not browsers acting for someone else.
 */
export function requestGate(options: GateOptions): RequestGate {
  const allowHost = hostCheck(options);
  const crossOrigin = allowedCrossOrigin(options);
  return (headers) => {
    if (allowHost && !allowHost(headers.host)) {
      return new FramehubError(ErrorCode.HostNotAllowed, 'this server does not answer to that Host name (PUBLIC_HOSTS)');
    }
    const origin = headers.origin;
    if (origin === undefined || isOwnOrigin(origin, headers.host) || crossOrigin(origin)) return undefined;
    return new FramehubError(ErrorCode.OriginNotAllowed, 'requests from this page\'s origin are not allowed (ALLOWED_ORIGINS)');
  };
}

/** Whether a page on `origin`, not framehub's own, may use framehub (and read its answers). */
export function allowedCrossOrigin(options: Pick<GateOptions, 'allowedOrigins'>): (origin: string) => boolean {
  const listed = new Set(options.allowedOrigins.split(',').map((o) => o.trim().toLowerCase().replace(/\/$/, '')).filter((o) => o !== ''));
  if (listed.has('*')) return () => true;
  return (origin) => listed.has(origin.trim().toLowerCase());
}

/** A page served by framehub itself: the origin names the host and port the request was sent to. */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || origin === 'null') return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}

/** The REST side of the gate: 403 `{error, message}` for a refused request (CORS is web-security.ts's). */
export function gateHook(gate: RequestGate): onRequestHookHandler {
  return function checkRequest(request, reply, done) {
    const refusal = gate(request.headers);
    if (refusal) {
      void reply.code(refusal.status).send({ error: refusal.code, message: refusal.message });
      return;
    }
    done();
  };
}

/** The same allow-list in the shape of the `cors` packages' `origin` option (@fastify/cors, Socket.IO's polling answers). */
export function corsOrigins(allowedOrigins: string): (origin: string | undefined, callback: (error: Error | null, allow: boolean) => void) => void {
  const crossOrigin = allowedCrossOrigin({ allowedOrigins });
  return (origin, callback) => callback(null, origin !== undefined && crossOrigin(origin));
}
