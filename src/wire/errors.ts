import { CloseCode } from './close-codes.js';

/**
 * Every error code framehub puts on the wire, with the HTTP status a REST route answers it with
 * and the close code a WebSocket route closes with when the error ends the connection. One
 * table: domain code throws a `FramehubError` with a code and never picks a status itself; the
 * transports read both numbers from here.
 */
const TABLE = {
  // A client's message or query string.
  invalid_json: [400, CloseCode.BadRequest],
  invalid_message: [400, CloseCode.BadRequest],
  unknown_command: [400, CloseCode.BadRequest],
  invalid_options: [400, CloseCode.BadRequest],
  invalid_query: [400, CloseCode.BadRequest],
  unsupported_message: [400, CloseCode.BadRequest],
  invalid_body: [400, CloseCode.BadRequest],
  invalid_input: [400, CloseCode.BadRequest],
  invalid_url: [400, CloseCode.BadRequest],
  body_too_large: [413, CloseCode.MessageTooBig],
  unsupported_media_type: [415, CloseCode.BadRequest],
  not_an_image: [415, CloseCode.BadRequest],
  rate_limited: [429, CloseCode.RateLimited],
  // Streams.
  stream_not_found: [404, CloseCode.NotFound],
  stream_unavailable: [503, CloseCode.TryAgainLater],
  too_many_variants: [503, CloseCode.TryAgainLater],
  stream_ended: [410, CloseCode.StreamEnded],
  no_frame: [404, CloseCode.TryAgainLater],
  encode_failed: [500, CloseCode.InternalError],
  source_error: [502, CloseCode.InternalError],
  capture_unavailable: [503, CloseCode.TryAgainLater],
  /** Input sent where no input goes: Socket.IO input before `subscribe`, or to a stream that is no browser session. */
  input_not_accepted: [409, CloseCode.BadRequest],
  // Tokens.
  unauthorized: [401, CloseCode.Unauthorized],
  token_missing: [401, CloseCode.Unauthorized],
  token_invalid: [401, CloseCode.Unauthorized],
  token_expired: [401, CloseCode.Unauthorized],
  /** Issued longer ago than JWT_MAX_AGE. */
  token_too_old: [401, CloseCode.Unauthorized],
  token_alg_none: [401, CloseCode.Unauthorized],
  token_not_yet_valid: [401, CloseCode.Unauthorized],
  /** A share link that its maker revoked (or whose session closed): the same token cannot come back. */
  token_revoked: [401, CloseCode.Unauthorized],
  /** A share link whose `max_uses` connections are spent. */
  token_used_up: [401, CloseCode.Unauthorized],
  /** The JWKS could not be fetched: not the token's fault. */
  auth_unavailable: [503, CloseCode.TryAgainLater],
  /** A valid token without the scope this route or event needs. */
  scope_missing: [403, CloseCode.Forbidden],
  publish_disabled: [403, CloseCode.Forbidden],
  // Share links.
  share_not_found: [404, CloseCode.NotFound],
  /** The target holds as many live links as it may (MAX_LINKS_PER_TARGET), or the server does. */
  too_many_shares: [429, CloseCode.TryAgainLater],
  // Generations.
  job_not_found: [404, CloseCode.NotFound],
  job_exists: [409, CloseCode.BadRequest],
  job_finished: [409, CloseCode.BadRequest],
  duplicate_image: [409, CloseCode.BadRequest],
  store_failed: [500, CloseCode.InternalError],
  image_not_found: [404, CloseCode.NotFound],
  // Browser sessions.
  session_not_found: [404, CloseCode.NotFound],
  session_exists: [409, CloseCode.BadRequest],
  too_many_sessions: [429, CloseCode.TryAgainLater],
  /** With access configured, a session needs an owner: a JWT without `sub` cannot create one. */
  owner_required: [403, CloseCode.Forbidden],
  browser_unavailable: [503, CloseCode.TryAgainLater],
  url_refused: [403, CloseCode.Forbidden],
  url_unresolvable: [502, CloseCode.BadRequest],
  navigation_failed: [502, CloseCode.BadRequest],
  timeout: [504, CloseCode.TryAgainLater],
  /** In a cluster: the node running a browser session did not answer a request forwarded to it. */
  node_unreachable: [502, CloseCode.TryAgainLater],
  /** Input, or a controller's action (grant, deny, release), from a client that does not hold the session's control. */
  control_required: [409, CloseCode.BadRequest],
  /** `take` while someone else controls and has been active within SESSION_CONTROL_IDLE (only an admin may take then). */
  control_busy: [409, CloseCode.BadRequest],
  /** A grant or deny naming nobody who asked for control; a REST `X-Control-Holder` key the session does not know. */
  holder_not_found: [404, CloseCode.NotFound],
  /** A pointer position while the controller does not share pointers. */
  pointers_off: [409, CloseCode.BadRequest],
  // Recordings.
  /** A recording id that is not `<YYYYMMDD>T<HHMMSS>Z-<8 hex>` (never a path). */
  invalid_recording_id: [400, CloseCode.BadRequest],
  recording_not_found: [404, CloseCode.NotFound],
  /** Start asked for a stream that is recording already. */
  already_recording: [409, CloseCode.BadRequest],
  /** Stop asked for a stream that is not recording. */
  not_recording: [404, CloseCode.NotFound],
  /** Delete asked for a recording still being written. */
  recording_active: [409, CloseCode.BadRequest],
  /** A Range no byte of the file satisfies. */
  range_not_satisfiable: [416, CloseCode.BadRequest],
  /** A playback command (seek, speed, pause) for a stream that is no recording's playback. */
  playback_not_accepted: [409, CloseCode.BadRequest],
  // The server.
  not_built: [404, CloseCode.NotFound],
  /** A `Host` that is not one of PUBLIC_HOSTS (DNS rebinding). */
  host_not_allowed: [403, CloseCode.Forbidden],
  /** A browser page on an origin that is not framehub's own nor in ALLOWED_ORIGINS. */
  origin_not_allowed: [403, CloseCode.Forbidden],
  shutting_down: [503, CloseCode.GoingAway],
  /** A bug on the server's side; the connection goes on where it can (or closes with 1011). */
  internal_error: [500, CloseCode.InternalError],
} as const satisfies Record<string, readonly [number, CloseCode]>;

export type ErrorCode = keyof typeof TABLE;

/** The codes by name, for code that reads better as `ErrorCode.StreamNotFound`. */
export const ErrorCode = {
  InvalidJson: 'invalid_json',
  InvalidMessage: 'invalid_message',
  UnknownCommand: 'unknown_command',
  InvalidOptions: 'invalid_options',
  InvalidQuery: 'invalid_query',
  UnsupportedMessage: 'unsupported_message',
  InvalidBody: 'invalid_body',
  InvalidInput: 'invalid_input',
  InvalidUrl: 'invalid_url',
  BodyTooLarge: 'body_too_large',
  UnsupportedMediaType: 'unsupported_media_type',
  NotAnImage: 'not_an_image',
  RateLimited: 'rate_limited',
  StreamNotFound: 'stream_not_found',
  StreamUnavailable: 'stream_unavailable',
  TooManyVariants: 'too_many_variants',
  StreamEnded: 'stream_ended',
  NoFrame: 'no_frame',
  EncodeFailed: 'encode_failed',
  SourceError: 'source_error',
  CaptureUnavailable: 'capture_unavailable',
  InputNotAccepted: 'input_not_accepted',
  Unauthorized: 'unauthorized',
  TokenMissing: 'token_missing',
  TokenInvalid: 'token_invalid',
  TokenExpired: 'token_expired',
  TokenTooOld: 'token_too_old',
  TokenAlgNone: 'token_alg_none',
  TokenNotYetValid: 'token_not_yet_valid',
  TokenRevoked: 'token_revoked',
  TokenUsedUp: 'token_used_up',
  ShareNotFound: 'share_not_found',
  TooManyShares: 'too_many_shares',
  AuthUnavailable: 'auth_unavailable',
  ScopeMissing: 'scope_missing',
  PublishDisabled: 'publish_disabled',
  JobNotFound: 'job_not_found',
  JobExists: 'job_exists',
  JobFinished: 'job_finished',
  DuplicateImage: 'duplicate_image',
  StoreFailed: 'store_failed',
  ImageNotFound: 'image_not_found',
  SessionNotFound: 'session_not_found',
  SessionExists: 'session_exists',
  TooManySessions: 'too_many_sessions',
  OwnerRequired: 'owner_required',
  BrowserUnavailable: 'browser_unavailable',
  UrlRefused: 'url_refused',
  UrlUnresolvable: 'url_unresolvable',
  NavigationFailed: 'navigation_failed',
  Timeout: 'timeout',
  NodeUnreachable: 'node_unreachable',
  ControlRequired: 'control_required',
  ControlBusy: 'control_busy',
  HolderNotFound: 'holder_not_found',
  PointersOff: 'pointers_off',
  InvalidRecordingId: 'invalid_recording_id',
  RecordingNotFound: 'recording_not_found',
  AlreadyRecording: 'already_recording',
  NotRecording: 'not_recording',
  RecordingActive: 'recording_active',
  RangeNotSatisfiable: 'range_not_satisfiable',
  PlaybackNotAccepted: 'playback_not_accepted',
  NotBuilt: 'not_built',
  HostNotAllowed: 'host_not_allowed',
  OriginNotAllowed: 'origin_not_allowed',
  ShuttingDown: 'shutting_down',
  InternalError: 'internal_error',
} as const satisfies Record<string, ErrorCode>;

/** The HTTP status a REST route answers `code` with. */
export function httpStatusOf(code: ErrorCode): number {
  return TABLE[code][0];
}

/** The close code a WebSocket route closes with when `code` ends the connection. */
export function closeCodeOf(code: ErrorCode): CloseCode {
  return TABLE[code][1];
}

/**
 * The one error base: anything framehub refuses, with a code for the wire and a message fit to
 * show the client (never a library's internals). Subclasses name where the refusal comes from;
 * the transports answer all of them the same way through the route guard.
 */
export class FramehubError extends Error {
  override readonly name: string = 'FramehubError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** HTTP status of a REST answer. */
  get status(): number {
    return httpStatusOf(this.code);
  }

  /** Close code when the error ends a WebSocket connection. */
  get closeCode(): CloseCode {
    return closeCodeOf(this.code);
  }
}
