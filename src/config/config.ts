import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';

/** How a configured stream is recorded (docs/recording.md); every kind takes them. */
export interface StreamRecordingSettings {
  /** Record from the start, always: a new recording every `record_segment` seconds. */
  record?: boolean;
  /**
   * The node that runs this stream's source in a cluster (its `nodeName`): a camera attached to
   * one machine. Every other node follows it. Unset: whichever node has viewers first.
   */
  node?: string;
  /** Seconds of the past a recording starts with (0-300): the stream is encoded all the time. */
  prerecord?: number;
  /** Seconds an always-on recording runs before the next one takes over. @default 600 */
  record_segment?: number;
  /** Finished recordings of this stream older than this many seconds are deleted (0 = kept). */
  retention_age?: number;
  /** Finished recordings of this stream are deleted, oldest first, past this many MiB in all (0 = no limit). */
  retention_size?: number;
}

/** A stream declared in the config file; `source` picks the kind, the other keys are its settings. */
export interface PatternStreamConfig extends StreamRecordingSettings {
  source: 'pattern';
  fps?: number;
  width?: number;
  height?: number;
  quality?: number;
  label?: string;
}
/** Shared by the ffmpeg kinds. `quality` is the nominal JPEG quality ffmpeg's `-q:v` is derived from. */
interface FfmpegStreamSettings extends StreamRecordingSettings {
  fps?: number;
  quality?: number;
  label?: string;
}
/** The whole X screen (x11grab). */
export interface ScreenStreamConfig extends FfmpegStreamSettings {
  source: 'screen';
  /** X display; the `display` option / `$DISPLAY` when unset. */
  display?: string;
  /** Scale to this size. */
  width?: number;
  height?: number;
  /** Draw the pointer. @default true */
  mouse?: boolean;
}
/** One X window by id (ids change between sessions: mostly useful for scripted setups). */
export interface WindowStreamConfig extends FfmpegStreamSettings {
  source: 'window';
  window: number;
  display?: string;
}
/** A file (looped by default), a V4L2 device, an RTSP/HTTP URL or a lavfi graph: exactly one of them. */
export interface VideoStreamConfig extends FfmpegStreamSettings {
  source: 'video';
  file?: string;
  /** Files only. @default true */
  loop?: boolean;
  device?: string;
  url?: string;
  lavfi?: string;
  width?: number;
  height?: number;
}
export type StreamConfig = PatternStreamConfig | ScreenStreamConfig | WindowStreamConfig | VideoStreamConfig;

export interface Config {
  /** @default 8080 */
  port: number;
  /** @default '0.0.0.0' */
  host: string;
  /** pino level. @default 'info' */
  logLevel: string;
  /** Default fps of `/ws/video_feed` (WS_FRAME_RATE). @default 30 */
  frameRate: number;
  /** Default quality (WS_QUALITY). @default 80 */
  quality: number;
  /** Concurrent `/ws/video_feed` clients (WS_MAX_CLIENTS). @default 10 */
  maxClients: number;
  /** `/ws/video_feed` clients one address may hold; 0 = half of maxClients, rounded up (WS_MAX_CLIENTS_PER_IP). @default 0 */
  maxClientsPerIp: number;
  /** WebSocket and Socket.IO connections at once, over every route (MAX_CONNECTIONS). @default 4096 */
  maxConnections: number;
  /** WebSocket and Socket.IO connections at once from one client address (MAX_CONNECTIONS_PER_IP). @default 64 */
  maxConnectionsPerIp: number;
  /** PEM certificate (chain) file: with tlsKey, framehub serves HTTPS and WSS on its port (TLS_CERT). @default '' */
  tlsCert: string;
  /** PEM private key file of tlsCert (TLS_KEY). @default '' */
  tlsKey: string;
  /** REST requests a minute one address may make; past it, 429 (REST_RATE_LIMIT); 0 = no limit. @default 6000 */
  restRateLimit: number;
  /** Comma list of other origins whose pages may use framehub (`null` = file: and WebView pages, `*` = any) (ALLOWED_ORIGINS). @default '' */
  allowedOrigins: string;
  /** Comma list of the names clients reach framehub by; other `Host` headers are refused (PUBLIC_HOSTS). @default '' */
  publicHosts: string;
  /** Seconds between protocol pings; a peer that missed one is dropped (WS_PING_INTERVAL). @default 30 */
  pingInterval: number;
  /** Seconds an unused browser session lives (SESSION_TIMEOUT). @default 300 */
  sessionTimeout: number;
  /** Seconds a browser session lives at most, watched or not (SESSION_MAX_LIFETIME); 0 = no limit. @default 14400 */
  sessionMaxLifetime: number;
  /** Seconds a session's controller must be idle before anyone who may drive the session can take control (SESSION_CONTROL_IDLE); 0 = only an admin. @default 60 */
  sessionControlIdle: number;
  /** Browser sessions at once, overall (MAX_SESSIONS). @default 10 */
  maxSessions: number;
  /** Browser sessions at once per client IP (MAX_SESSIONS_PER_IP). @default 3 */
  maxSessionsPerIp: number;
  /** Browser sessions at once per owner (a JWT's `sub`, a static token) when access is configured; 0 = no limit (MAX_SESSIONS_PER_USER). @default 3 */
  maxSessionsPerUser: number;
  /** Comma list of hosts sessions may load even if they resolve to private addresses; `*` = all (BROWSER_ALLOW_HOSTS). @default '' */
  browserAllowHosts: string;
  /** MiB of resident memory a session's page process may use before it is killed (SESSION_MEMORY_LIMIT; 0 = no limit). @default 1024 */
  sessionMemoryLimit: number;
  /** User Chromium runs as, with its sandbox, when framehub runs as root; created if missing (BROWSER_USER). @default 'framehub-browser' */
  browserUser: string;
  /** Chromium binary for browser sessions (CHROME_PATH). @default '/usr/bin/chromium' */
  chromePath: string;
  /** Largest message a client may send, bytes. @default 65536 */
  maxPayload: number;
  /** Seconds a source keeps running after its last subscriber left. @default 5 */
  idleGrace: number;
  /** Screen capture on: `/stream/0` is the desktop, `/stream/<window id>` one window (SCREEN, --screen). @default false */
  screen: boolean;
  /** X display for screen capture (DISPLAY, --display). @default '' ($DISPLAY) */
  display: string;
  /** Frames per second of screen and window capture (CAPTURE_FPS). @default 15 */
  captureFps: number;
  /** Window streams open at once (each is an ffmpeg process); one more is refused with 1013. @default 32 */
  maxWindowStreams: number;
  /** Stream served as id `0` until screen capture takes it. @default first stream */
  primaryStream: string;
  /** A static token with scope `publish`, for producers (PRODUCER_TOKEN); '' = publishing off unless another token may publish. @default '' */
  producerToken: string;
  /** HS256 secret of JWTs (JWT_SECRET); with it, jwksUrl or accessTokens every route asks for a scoped token (server/access.ts). @default '' */
  jwtSecret: string;
  /** JWKS URL of JWTs (JWKS_URL). @default '' */
  jwksUrl: string;
  /** Required `aud` of every JWT (JWT_AUDIENCE); '' = not checked. @default '' */
  jwtAudience: string;
  /** Required `iss` of every JWT (JWT_ISSUER); '' = not checked. @default '' */
  jwtIssuer: string;
  /** Seconds a JWT may be old (from `iat`, or without `iat` how far its `exp` may lie ahead) (JWT_MAX_AGE); 0 = no limit. @default 86400 */
  jwtMaxAge: number;
  /** Scopes a JWT without a `scope`/`scp`/`scopes` claim gets, space-separated (JWT_DEFAULT_SCOPES). @default '' */
  jwtDefaultScopes: string;
  /** Static tokens and their scopes: `<token>=<scope> <scope>; <token2>=<scope>` (ACCESS_TOKENS). @default '' */
  accessTokens: string;
  /** HS256 key of share-link tokens when JWT_SECRET is unset (SHARE_SECRET); '' = a random key per process. @default '' */
  shareSecret: string;
  /** Generation events kept for `?since=` replays (REPLAY_SIZE). @default 1000 */
  replaySize: number;
  /** Seconds a generation event stays replayable (REPLAY_AGE, 0 = no limit). @default 3600 */
  replayAge: number;
  /** Data directory: generated images and the replay log's journal `events.jsonl` (IMAGE_DIR). @default './data/images' */
  imageDir: string;
  /** Where recordings go (RECORDINGS_DIR), one fragmented MP4 and its JSON index entry each (docs/recording.md). @default './data/recordings' */
  recordingsDir: string;
  /** Hours generated images are kept (IMAGE_RETENTION, 0 = forever). @default 168 */
  imageRetention: number;
  /** Largest image a producer may publish, bytes (MAX_IMAGE_SIZE). @default 33554432 */
  maxImageSize: number;
  /** ComfyUI server to bridge, e.g. http://127.0.0.1:8188 (COMFYUI_URL, --comfyui). @default '' */
  comfyui: string;
  /** Redis of the cluster this node joins, e.g. redis://127.0.0.1:6379 (REDIS_URL, --redis); '' = a single node, no Redis. @default '' */
  redis: string;
  /** This node's name in its cluster, what a stream's `node:` names (NODE_NAME, --node-name). @default the host name */
  nodeName: string;
  streams: Record<string, StreamConfig>;
}

export const DEFAULT_STREAMS: Record<string, StreamConfig> = { demo: { source: 'pattern' } };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Origin = string; // where a value came from, for error messages

interface Field {
  env?: string;
  flag?: string;
  parse: (raw: unknown, origin: Origin) => unknown;
  default: unknown;
  /** A flag without a value (`--screen`). */
  boolean?: true;
  help: string;
}

const int = (min: number, max: number) => (raw: unknown, origin: Origin): number => {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${origin} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return n;
};
const num = (min: number, max: number) => (raw: unknown, origin: Origin): number => {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
    throw new ConfigError(`${origin} must be a number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  return n;
};
const str = (pattern?: RegExp, what?: string) => (raw: unknown, origin: Origin): string => {
  if (typeof raw !== 'string' || raw === '' || (pattern && !pattern.test(raw))) {
    throw new ConfigError(`${origin} must be ${what ?? 'a non-empty string'} (got ${JSON.stringify(raw)})`);
  }
  return raw;
};
const bool = (raw: unknown, origin: Origin): boolean => {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw.trim())) return true;
  if (typeof raw === 'string' && /^(0|false|no|off)$/i.test(raw.trim())) return false;
  throw new ConfigError(`${origin} must be true or false (got ${JSON.stringify(raw)})`);
};
/** A node's name: a host name's characters, so the default (the host name) is one. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const NODE_NAME_RULE = 'a node name: 1-63 letters, digits, "_", "." or "-", starting with a letter or digit';
const LOG_LEVELS = /^(fatal|error|warn|info|debug|trace|silent)$/;
/** One scope: `view`, `view:<stream id>`, `control`, `control:<session id>`, `publish`, `admin`, `generations:all`. */
const SCOPE = '[A-Za-z][A-Za-z_]*(?::[A-Za-z0-9_.:-]{1,160})?';
const SCOPE_LIST = new RegExp(`^\\s*${SCOPE}(\\s+${SCOPE})*\\s*$`);
const ACCESS_TOKEN = `[\\x21-\\x3a\\x3c\\x3e-\\x7e]{16,}\\s*=\\s*${SCOPE}(\\s+${SCOPE})*`;
const ACCESS_TOKEN_LIST = new RegExp(`^\\s*${ACCESS_TOKEN}(\\s*;\\s*${ACCESS_TOKEN})*\\s*;?\\s*$`);

/** Every scalar option: its env name, its flag and its rule. Flags beat env, env beats the file. */
export const FIELDS: Record<Exclude<keyof Config, 'streams'>, Field> = {
  port: { env: 'PORT', flag: 'port', parse: int(0, 65535), default: 8080, help: 'TCP port (0 = any free port)' },
  host: { env: 'HOST', flag: 'host', parse: str(), default: '0.0.0.0', help: 'address to listen on' },
  logLevel: { env: 'LOG_LEVEL', flag: 'log-level', parse: str(LOG_LEVELS, 'one of fatal, error, warn, info, debug, trace, silent'), default: 'info', help: 'log level' },
  frameRate: { env: 'WS_FRAME_RATE', flag: 'frame-rate', parse: int(1, 60), default: 30, help: 'default fps of /ws/video_feed' },
  quality: { env: 'WS_QUALITY', flag: 'quality', parse: int(10, 100), default: 80, help: 'default image quality' },
  maxClients: { env: 'WS_MAX_CLIENTS', flag: 'max-clients', parse: int(1, 100_000), default: 10, help: 'concurrent /ws/video_feed clients' },
  maxClientsPerIp: { env: 'WS_MAX_CLIENTS_PER_IP', flag: 'max-clients-per-ip', parse: int(0, 100_000), default: 0, help: '/ws/video_feed clients per address (0 = half of maxClients)' },
  maxConnections: { env: 'MAX_CONNECTIONS', flag: 'max-connections', parse: int(1, 1_000_000), default: 4096, help: 'WebSocket and Socket.IO connections at once' },
  maxConnectionsPerIp: { env: 'MAX_CONNECTIONS_PER_IP', flag: 'max-connections-per-ip', parse: int(1, 1_000_000), default: 64, help: 'WebSocket and Socket.IO connections per client address' },
  tlsCert: { env: 'TLS_CERT', flag: 'tls-cert', parse: (raw, origin) => (raw === '' ? '' : str()(raw, origin)), default: '', help: 'PEM certificate file: serve HTTPS and WSS (with --tls-key); reloaded on SIGHUP' },
  tlsKey: { env: 'TLS_KEY', flag: 'tls-key', parse: (raw, origin) => (raw === '' ? '' : str()(raw, origin)), default: '', help: 'PEM private key file of --tls-cert' },
  restRateLimit: { env: 'REST_RATE_LIMIT', flag: 'rest-rate-limit', parse: int(0, 10_000_000), default: 6000, help: 'REST requests a minute one address may make (0 = no limit)' },
  allowedOrigins: { env: 'ALLOWED_ORIGINS', flag: 'allowed-origins', parse: (raw, origin) => (raw === '' ? '' : str(/^(\*|null|https?:\/\/[A-Za-z0-9.\-\[\]:]+)(\s*,\s*(\*|null|https?:\/\/[A-Za-z0-9.\-\[\]:]+))*$/, 'a comma list of origins like https://app.example, null or *')(raw, origin)), default: '', help: 'other origins whose pages may use framehub (null: file: and WebView pages; *: any)' },
  publicHosts: { env: 'PUBLIC_HOSTS', flag: 'public-hosts', parse: (raw, origin) => (raw === '' ? '' : str(/^[A-Za-z0-9.:\[\],\- ]+$/, 'a comma list of host names')(raw, origin)), default: '', help: 'names clients use to reach framehub; other Host headers are refused (unset: loopback names only when bound to loopback)' },
  pingInterval: { env: 'WS_PING_INTERVAL', flag: 'ping-interval', parse: num(0.05, 3600), default: 30, help: 'seconds between WebSocket pings' },
  sessionTimeout: { env: 'SESSION_TIMEOUT', flag: 'session-timeout', parse: int(1, 86_400), default: 300, help: 'seconds an idle browser session lives' },
  sessionMaxLifetime: { env: 'SESSION_MAX_LIFETIME', flag: 'session-max-lifetime', parse: int(0, 604_800), default: 14_400, help: 'seconds a browser session lives at most, watched or not (0 = no limit)' },
  sessionControlIdle: { env: 'SESSION_CONTROL_IDLE', flag: 'session-control-idle', parse: int(0, 86_400), default: 60, help: 'seconds a session\'s controller must be idle before another client may take control (0 = only an admin)' },
  maxSessions: { env: 'MAX_SESSIONS', flag: 'max-sessions', parse: int(0, 1000), default: 10, help: 'browser sessions at once, overall (in a cluster, on every node together)' },
  maxSessionsPerIp: { env: 'MAX_SESSIONS_PER_IP', flag: 'max-sessions-per-ip', parse: int(0, 1000), default: 3, help: 'browser sessions at once per client IP (in a cluster, on every node together)' },
  maxSessionsPerUser: { env: 'MAX_SESSIONS_PER_USER', flag: 'max-sessions-per-user', parse: int(0, 1000), default: 3, help: 'browser sessions at once per token owner when access is configured (0 = no limit)' },
  browserAllowHosts: { env: 'BROWSER_ALLOW_HOSTS', flag: 'browser-allow-hosts', parse: (raw, origin) => (raw === '' ? '' : str(/^[A-Za-z0-9.:*,\[\] -]+$/, 'a comma list of hosts or *')(raw, origin)), default: '', help: 'hosts sessions may load despite private addresses (* = all)' },
  sessionMemoryLimit: { env: 'SESSION_MEMORY_LIMIT', flag: 'session-memory-limit', parse: int(0, 1_048_576), default: 1024, help: 'MiB a browser session\'s page process may hold resident before it is killed (0 = no limit)' },
  browserUser: { env: 'BROWSER_USER', flag: 'browser-user', parse: str(/^[a-z_][a-z0-9_-]{0,31}$/, 'a user name'), default: 'framehub-browser', help: 'user Chromium runs as (sandbox on) when framehub runs as root; created if missing' },
  chromePath: { env: 'CHROME_PATH', flag: 'chrome-path', parse: str(), default: '/usr/bin/chromium', help: 'Chromium binary for browser sessions' },
  maxPayload: { env: 'WS_MAX_PAYLOAD', flag: 'max-payload', parse: int(128, 64 * 1024 * 1024), default: 65_536, help: 'largest client message, bytes' },
  idleGrace: { env: 'IDLE_GRACE', flag: 'idle-grace', parse: num(0, 3600), default: 5, help: 'seconds a source outlives its last viewer' },
  screen: { env: 'SCREEN', flag: 'screen', parse: bool, default: false, boolean: true, help: 'capture the X screen: /stream/0 = desktop, /stream/<window id>' },
  display: { env: 'DISPLAY', flag: 'display', parse: (raw, origin) => (raw === '' ? '' : str(/^\S+$/, 'an X display like :0')(raw, origin)), default: '', help: 'X display for screen capture' },
  captureFps: { env: 'CAPTURE_FPS', flag: 'capture-fps', parse: int(1, 60), default: 15, help: 'fps of screen and window capture' },
  maxWindowStreams: { env: 'MAX_WINDOW_STREAMS', flag: 'max-window-streams', parse: int(1, 1000), default: 32, help: 'window streams at once (one ffmpeg each)' },
  primaryStream: { env: 'PRIMARY_STREAM', flag: 'primary-stream', parse: str(/^[A-Za-z0-9_.:-]{1,128}$/, 'a stream id'), default: '', help: 'stream served as id 0' },
  producerToken: { env: 'PRODUCER_TOKEN', flag: 'producer-token', parse: (raw, origin) => (raw === '' ? '' : str(/^\S{8,}$/, 'at least 8 characters without spaces')(raw, origin)), default: '', help: 'static token with scope publish, for image producers (unset = publishing off)' },
  jwtSecret: { env: 'JWT_SECRET', flag: 'jwt-secret', parse: (raw, origin) => (raw === '' ? '' : str(/^.{16,}$/, 'at least 16 characters')(raw, origin)), default: '', help: 'HS256 secret of JWTs: every route then needs a scoped token (unset, with no JWKS and no access tokens = open)' },
  jwksUrl: { env: 'JWKS_URL', flag: 'jwks-url', parse: (raw, origin) => (raw === '' ? '' : str(/^https?:\/\/\S+$/, 'an http(s) URL')(raw, origin)), default: '', help: 'JWKS URL of JWTs' },
  jwtAudience: { env: 'JWT_AUDIENCE', flag: 'jwt-audience', parse: (raw, origin) => (raw === '' ? '' : str(/^\S+$/, 'a string without spaces')(raw, origin)), default: '', help: 'required aud claim of JWTs' },
  jwtIssuer: { env: 'JWT_ISSUER', flag: 'jwt-issuer', parse: (raw, origin) => (raw === '' ? '' : str(/^\S+$/, 'a string without spaces')(raw, origin)), default: '', help: 'required iss claim of JWTs' },
  jwtMaxAge: { env: 'JWT_MAX_AGE', flag: 'jwt-max-age', parse: int(0, 366 * 86_400), default: 86_400, help: 'seconds a JWT may be old, from iat (0 = no limit)' },
  jwtDefaultScopes: { env: 'JWT_DEFAULT_SCOPES', flag: 'jwt-default-scopes', parse: (raw, origin) => (raw === '' ? '' : str(SCOPE_LIST, 'space-separated scopes like view or view:demo')(raw, origin)), default: '', help: 'scopes of a JWT that carries no scope claim' },
  accessTokens: { env: 'ACCESS_TOKENS', flag: 'access-tokens', parse: (raw, origin) => (raw === '' ? '' : str(ACCESS_TOKEN_LIST, '"<token>=<scope> <scope>; <token2>=<scope>" with tokens of 16+ characters')(raw, origin)), default: '', help: 'static tokens and their scopes: "<token>=<scope> <scope>; <token2>=<scope>"' },
  shareSecret: { env: 'SHARE_SECRET', flag: 'share-secret', parse: (raw, origin) => (raw === '' ? '' : str(/^.{16,}$/, 'at least 16 characters')(raw, origin)), default: '', help: 'HS256 key of share-link tokens when JWT_SECRET is unset (unset = a random key: links die with the process)' },
  replaySize: { env: 'REPLAY_SIZE', flag: 'replay-size', parse: int(10, 1_000_000), default: 1000, help: 'generation events kept for ?since= replays' },
  replayAge: { env: 'REPLAY_AGE', flag: 'replay-age', parse: int(0, 30 * 86_400), default: 3600, help: 'seconds a generation event stays replayable (0 = no limit)' },
  imageDir: { env: 'IMAGE_DIR', flag: 'image-dir', parse: str(), default: './data/images', help: 'data directory: generated images and the replay log (events.jsonl)' },
  recordingsDir: { env: 'RECORDINGS_DIR', flag: 'recordings-dir', parse: str(), default: './data/recordings', help: 'directory of stream recordings (one MP4 each, docs/recording.md)' },
  imageRetention: { env: 'IMAGE_RETENTION', flag: 'image-retention', parse: num(0, 87_600), default: 168, help: 'hours generated images are kept (0 = forever)' },
  maxImageSize: { env: 'MAX_IMAGE_SIZE', flag: 'max-image-size', parse: int(1024, 512 * 1024 * 1024), default: 32 * 1024 * 1024, help: 'largest published image, bytes' },
  comfyui: { env: 'COMFYUI_URL', flag: 'comfyui', parse: (raw, origin) => (raw === '' ? '' : str(/^https?:\/\/\S+$/, 'an http(s) URL like http://127.0.0.1:8188')(raw, origin)), default: '', help: 'ComfyUI server to bridge' },
  redis: { env: 'REDIS_URL', flag: 'redis', parse: (raw, origin) => (raw === '' ? '' : str(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL like redis://127.0.0.1:6379')(raw, origin)), default: '', help: 'Redis of the cluster to join (unset = a single node)' },
  nodeName: { env: 'NODE_NAME', flag: 'node-name', parse: (raw, origin) => (raw === '' ? '' : str(NODE_NAME, NODE_NAME_RULE)(raw, origin)), default: '', help: 'this node\'s name in the cluster, what a stream\'s node: names (unset = the host name)' },
};

type StreamKind = StreamConfig['source'];
const STREAM_KINDS: readonly StreamKind[] = ['pattern', 'screen', 'window', 'video'];
const VIDEO_INPUTS = ['file', 'device', 'url', 'lavfi'] as const;

/** Every stream setting and its rule; which kinds accept it is in KIND_KEYS. */
const STREAM_KEYS: Record<string, Field['parse']> = {
  source: (raw, origin) => {
    if (!STREAM_KINDS.includes(raw as StreamKind)) throw new ConfigError(`${origin} must be one of: ${STREAM_KINDS.join(', ')} (got ${JSON.stringify(raw)})`);
    return raw;
  },
  fps: int(1, 60),
  width: int(16, 7680),
  height: int(16, 4320),
  quality: int(10, 100),
  label: (raw, origin) => str()(raw, origin),
  display: (raw, origin) => str(/^\S+$/, 'an X display like :0')(raw, origin),
  mouse: bool,
  window: (raw, origin) => {
    const id = typeof raw === 'number' ? raw : typeof raw === 'string' && /^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(id) || id <= 0 || id > 0x1fffffff) throw new ConfigError(`${origin} must be an X window id, decimal or 0x hex (got ${JSON.stringify(raw)})`);
    return id;
  },
  file: (raw, origin) => str()(raw, origin),
  loop: bool,
  device: (raw, origin) => str(/^\/dev\/\S+$/, 'a device path like /dev/video0')(raw, origin),
  url: (raw, origin) => str(/^(rtsps?|rtmps?|https?|srt|udp|tcp):\/\/\S+$/i, 'an rtsp://, rtmp://, http(s)://, srt://, udp:// or tcp:// URL')(raw, origin),
  lavfi: (raw, origin) => str()(raw, origin),
  node: (raw, origin) => str(NODE_NAME, NODE_NAME_RULE)(raw, origin),
  record: bool,
  prerecord: int(0, 300),
  record_segment: int(2, 86_400),
  retention_age: int(0, 10 * 365 * 86_400),
  retention_size: int(0, 100 * 1024 * 1024),
};

// `node` with them: every kind takes both.
const RECORDING_KEYS = ['node', 'record', 'prerecord', 'record_segment', 'retention_age', 'retention_size'];

const KIND_KEYS: Record<StreamKind, readonly string[]> = {
  pattern: ['source', 'fps', 'width', 'height', 'quality', 'label', ...RECORDING_KEYS],
  screen: ['source', 'fps', 'width', 'height', 'quality', 'label', 'display', 'mouse', ...RECORDING_KEYS],
  window: ['source', 'fps', 'quality', 'label', 'display', 'window', ...RECORDING_KEYS],
  video: ['source', 'fps', 'width', 'height', 'quality', 'label', ...VIDEO_INPUTS, 'loop', ...RECORDING_KEYS],
};

/** Checks what one key cannot: required keys and keys that only make sense together. */
function checkStream(stream: Record<string, unknown>, where: string): void {
  if ((stream['width'] === undefined) !== (stream['height'] === undefined)) {
    throw new ConfigError(`${where}: give both width and height, or neither`);
  }
  if (stream['source'] === 'window' && stream['window'] === undefined) throw new ConfigError(`${where}.window is required for source: window`);
  if (stream['source'] === 'video') {
    const inputs = VIDEO_INPUTS.filter((key) => stream[key] !== undefined);
    if (inputs.length !== 1) throw new ConfigError(`${where}: source: video needs exactly one of ${VIDEO_INPUTS.join(', ')} (got ${inputs.length === 0 ? 'none' : inputs.join(' and ')})`);
    if (stream['loop'] !== undefined && inputs[0] !== 'file') throw new ConfigError(`${where}.loop only applies to file inputs`);
  }
}

export interface ConfigInputs {
  /** Parsed CLI flags, by flag name. */
  flags?: Record<string, string | undefined>;
  env?: Record<string, string | undefined>;
  /** Path of a YAML file. */
  file?: string;
  /** Values set by code (tests, embedding); highest precedence. */
  overrides?: Partial<Config>;
}

/** Builds the config from defaults < YAML file < env < flags < overrides, validating every value. */
export function loadConfig(inputs: ConfigInputs = {}): Config {
  const env = inputs.env ?? {};
  const flags = inputs.flags ?? {};
  let fileValues: Record<string, unknown> = {};
  if (inputs.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(inputs.file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${inputs.file}: ${(error as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (error) {
      throw new ConfigError(`config file ${inputs.file} is not valid YAML: ${(error as Error).message}`);
    }
    if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
      throw new ConfigError(`config file ${inputs.file} must hold a mapping of options`);
    }
    fileValues = (doc ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(fileValues)) {
      if (key !== 'streams' && !(key in FIELDS)) {
        throw new ConfigError(`config file ${inputs.file}: unknown option "${key}" (known: ${[...Object.keys(FIELDS), 'streams'].join(', ')})`);
      }
    }
  }

  const config = {} as Record<string, unknown>;
  for (const [key, field] of Object.entries(FIELDS)) {
    const override = (inputs.overrides as Record<string, unknown> | undefined)?.[key];
    let value = field.default;
    if (override !== undefined) value = field.parse(override, key);
    else if (field.flag && flags[field.flag] !== undefined) value = field.parse(flags[field.flag], `--${field.flag}`);
    else if (field.env && env[field.env] !== undefined && env[field.env] !== '') value = field.parse(env[field.env], `${field.env}`);
    else if (fileValues[key] !== undefined) value = field.parse(fileValues[key], `${inputs.file}: ${key}`);
    config[key] = value;
  }

  if ((config['tlsCert'] === '') !== (config['tlsKey'] === '')) {
    throw new ConfigError('tlsCert and tlsKey (TLS_CERT, TLS_KEY) must be set together');
  }

  const rawStreams = inputs.overrides?.streams ?? fileValues['streams'] ?? DEFAULT_STREAMS;
  config['streams'] = parseStreams(rawStreams, inputs.overrides?.streams ? 'streams' : `${inputs.file ?? 'defaults'}: streams`);
  if (config['nodeName'] === '') config['nodeName'] = defaultNodeName();
  // One node: a stream pinned to another could never run, so say so now rather than serve a stream without frames.
  if (config['redis'] === '') {
    for (const [id, stream] of Object.entries(config['streams'] as Record<string, StreamConfig>)) {
      if (stream.node !== undefined && stream.node !== config['nodeName']) {
        throw new ConfigError(`streams.${id}.node is "${stream.node}", but this node is "${String(config['nodeName'])}" and joins no cluster (no REDIS_URL): no node could run its source. Set REDIS_URL, or NODE_NAME=${stream.node} on the node that has its source, or drop node:`);
      }
    }
  }
  const streamIds = Object.keys(config['streams'] as object);
  if (config['primaryStream'] === '') config['primaryStream'] = streamIds[0];
  else if (!streamIds.includes(config['primaryStream'] as string)) {
    throw new ConfigError(`primaryStream "${String(config['primaryStream'])}" is not a declared stream (declared: ${streamIds.join(', ')})`);
  }
  return config as unknown as Config;
}

function parseStreams(raw: unknown, origin: Origin): Record<string, StreamConfig> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${origin} must be a mapping of stream id to stream settings`);
  }
  const streams: Record<string, StreamConfig> = {};
  const entries = Object.entries(raw);
  if (entries.length === 0) throw new ConfigError(`${origin} must declare at least one stream`);
  for (const [id, value] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(id) || id === '0') {
      throw new ConfigError(`${origin}: stream id "${id}" must be letters, digits, "_", "." or "-" and not "0"`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(`${origin}.${id} must be a mapping with at least "source"`);
    }
    const kindRaw = (value as Record<string, unknown>)['source'];
    if (kindRaw === undefined) throw new ConfigError(`${origin}.${id}.source is required (one of: ${STREAM_KINDS.join(', ')})`);
    const kind = STREAM_KEYS['source']!(kindRaw, `${origin}.${id}.source`) as StreamKind;
    const allowed = KIND_KEYS[kind];
    const stream: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const parse = STREAM_KEYS[key];
      if (!parse || !allowed.includes(key)) throw new ConfigError(`${origin}.${id}: unknown setting "${key}" for source: ${kind} (known: ${allowed.join(', ')})`);
      stream[key] = parse(v, `${origin}.${id}.${key}`);
    }
    checkStream(stream, `${origin}.${id}`);
    streams[id] = stream as unknown as StreamConfig;
  }
  return streams;
}

/** The host name as a node name: characters a name may not hold become "-". */
function defaultNodeName(): string {
  const name = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return NODE_NAME.test(name) ? name : 'node';
}
