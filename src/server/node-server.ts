import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Config } from '../config/config.js';

/** Longest an HTTP request or WebSocket handshake may take to send its headers. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

// A request (an upgrade too) whose headers have not all arrived in 10 s is dropped; Node checks
// every second instead of its default 30.
const HTTP_OPTIONS: http.ServerOptions = { headersTimeout: HANDSHAKE_TIMEOUT_MS, connectionsCheckingInterval: 1000 };

/**
 * The Node server under Fastify, `ws` and Socket.IO: plain HTTP, or HTTPS (and so WSS) on the
 * same port when `tlsCert`/`tlsKey` are set. A bad certificate or key fails here, at start.
 */
export function createNodeServer(config: Config, handler: http.RequestListener): http.Server {
  if (!config.tlsCert) return http.createServer(HTTP_OPTIONS, handler);
  const server = https.createServer({ ...HTTP_OPTIONS, cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }, handler);
  // https.Server is not an http.Server by type, but serves the same events and API Fastify,
  // `ws` and Socket.IO use (request, upgrade, listen, close).
  return server as unknown as http.Server;
}

/**
 * Reads the certificate and key again and serves them to new connections (SIGHUP after a
 * renewal); connections already open keep theirs. Throws, and changes nothing, when the new
 * files do not load, so a half-written renewal cannot take the server off the air.
 */
export async function reloadTls(server: http.Server, config: Config): Promise<boolean> {
  if (!config.tlsCert) return false;
  const [cert, key] = await Promise.all([readFile(config.tlsCert), readFile(config.tlsKey)]);
  (server as unknown as https.Server).setSecureContext({ cert, key });
  return true;
}
