import { readFileSync } from 'node:fs';
import type { ServerKind } from './server-process.js';

export type ClientKind = 'raw' | 'ws' | 'browser';
export const CLIENT_KINDS: readonly ClientKind[] = ['raw', 'ws', 'browser'];
export type SourceKind = 'pre-encoded' | 'demo' | 'session';
export const SOURCE_KINDS: readonly SourceKind[] = ['pre-encoded', 'demo', 'session'];

/** Everything a bench run is told from the command line (see `npm run bench -- --help`). */
export interface BenchOptions {
  /** @default 100 */
  clients: number;
  /** Seconds measured per fan-out run. @default 15 */
  duration: number;
  /**
   * Seconds of traffic before measuring. @default 15: past the full collections V8's memory
   * reducer makes once, 10–16 s after start-up (docs/benchmarks.md, change 12).
   */
  warmup: number;
  scenario: 'all' | 'fanout' | 'stall';
  /** @default ['framehub', 'ws', 'tcp'] */
  servers: ServerKind[];
  /** Servers the stall scenario runs on. @default ['framehub', 'ws'] */
  stallServers: ServerKind[];
  /** Seconds the stall lasts. @default 60 */
  stallDuration: number;
  /** Seconds measured before the stall, as its reference. @default 10 */
  stallBefore: number;
  /** @default 0.1 */
  stallFraction: number;
  /** Source frame rate. @default 30 */
  fps: number;
  /** framehub clients' fps cap (WS_FRAME_RATE). @default fps */
  cap: number;
  /** @default 65536 */
  frameBytes: number;
  /** @default 80 */
  quality: number;
  /** Fan-out rounds: every server once a round, rounds one after another, summed up by their median. @default 5 */
  rounds: number;
  /**
   * The WebSocket clients (bench/viewers.ts): bench/raw-ws-client.ts in this process (`raw`),
   * the `ws` library's client in child processes (`ws`), or a few Chromium pages next to raw
   * clients (`browser`). @default 'raw'
   */
  client: ClientKind;
  /** Chromium pages among the clients with `--client browser`. @default 4 */
  browserPages: number;
  /** Child processes the `ws` clients are spread over. @default ceil(clients / 250), at least 2 */
  clientProcs: number;
  /**
   * What framehub serves (bench/framehub-server.ts): the bench's pre-encoded stamped JPEGs, the
   * demo pattern source, or a browser session; the baselines send fresh buffers of the size and
   * at the rate framehub delivered in the same round. @default 'pre-encoded'
   */
  source: SourceKind;
  /**
   * Also measure each server with one client first and report the marginal cost, (N clients −
   * 1 client) per GB, in which a source's own cost cancels. @default true unless pre-encoded
   */
  marginal: boolean;
  /** Handshakes in flight while connecting. @default 50 */
  connectConcurrency: number;
  /** Write a CPU profile of each server child into this directory. */
  profile: string | undefined;
  /** Extra Node/V8 flags for every server child, e.g. `--trace-gc` (the same for each server). */
  nodeFlags: string[];
  /** Write the results as JSON here too. */
  json: string | undefined;
}

/**
 * The Node flags `npm start` runs framehub with (package.json's `start` script), so the bench
 * measures framehub as it is started; every server child gets them, the baselines too, so
 * all run on the same V8 configuration.
 */
export function startScriptFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  const flags: string[] = [];
  for (const word of words.slice(words.indexOf('node') + 1)) {
    if (!word.startsWith('--')) break;
    flags.push(word);
  }
  return flags;
}

/** The Node flags a server child gets beyond its defaults: `npm start`'s, profiling and `--node-flags`. */
export function serverNodeFlags(options: BenchOptions): string[] {
  return [...startScriptFlags(), ...(options.profile ? ['--cpu-prof', `--cpu-prof-dir=${options.profile}`] : []), ...options.nodeFlags];
}

/**
 * A numeric command-line option of a bench: `fallback` when absent, else a number from `min` to
 * `max` (a whole one when `integer`), or an error naming the flag.
 */
export function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number, integer = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const ok = integer ? Number.isInteger(n) : Number.isFinite(n);
  if (!ok || n < min || n > max) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got ${raw})`);
  return n;
}
