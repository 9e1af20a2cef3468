import { readFileSync } from 'node:fs';
import type { ServerKind } from './server-process.js';

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
  /** The WebSocket clients: bench/raw-ws-client.ts (`raw`) or the `ws` library's (`ws`). @default 'raw' */
  client: 'ws' | 'raw';
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
