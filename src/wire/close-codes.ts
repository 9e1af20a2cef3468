/**
 * Every WebSocket close code framehub sends or acts on, in one table: the server closes with
 * these, and the client library's reconnect policies read them (4401 means "stop, a new token is
 * needed", 1013 "try again later"). Isomorphic: the browser bundle imports it too.
 */
export const CloseCode = {
  Normal: 1000,
  /** The server is shutting down; reconnect to another node or later. */
  GoingAway: 1001,
  /** Too many clients on a route that caps them (seeds/004's `/ws/video_feed`). */
  PolicyViolation: 1008,
  /** ws closes with this itself when a message exceeds `maxPayload`. */
  MessageTooBig: 1009,
  /** A bug on the server's side. */
  InternalError: 1011,
  /** A limit is reached now (connections, variants, an unreachable JWKS): try again later. */
  TryAgainLater: 1013,
  /** The client library's own code for a peer that went silent (private-use range, allowed from browsers). */
  HeartbeatTimeout: 4000,
  /** The connection URL's query string is invalid. */
  BadRequest: 4400,
  /** Token missing, malformed, expired, badly signed or `alg: none`: reconnecting with the same token cannot help. */
  Unauthorized: 4401,
  /** The route is switched off (publishing without a producer token). */
  Forbidden: 4403,
  /** The stream id names no stream. */
  NotFound: 4404,
  /** The consumer fell too far behind; reconnect with `?since=<last id received>`. */
  TooSlow: 4408,
  /** The stream ended for good (e.g. its window closed). */
  StreamEnded: 4410,
  /** The client sent too many messages too fast. */
  RateLimited: 4429,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Close codes after which reconnecting as before cannot succeed: the request itself was refused.
 * A reconnect policy stops on these unless the caller changes what it sends (a new token).
 */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.BadRequest,
  CloseCode.Unauthorized,
  CloseCode.Forbidden,
  CloseCode.NotFound,
  CloseCode.StreamEnded,
]);
