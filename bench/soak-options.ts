import { parseArgs } from 'node:util';
import { LEAVE_MODES, type LeaveMode } from './soak-viewers.js';
import { numberOption } from './bench-options.js';

/** What `npm run bench -- --scenario soak|churn` is told (see SOAK_HELP). */
export interface SoakOptions {
  scenario: 'soak' | 'churn';
  /** Viewers at once. @default 1000 (soak), 2000 (churn) */
  clients: number;
  /** Soak: seconds measured after the warm-up. @default 600 */
  duration: number;
  /** Soak: seconds of traffic before the reference sample. @default 60 */
  warmup: number;
  /** Soak: seconds between samples. @default 5 */
  sampleEvery: number;
  /** Churn: connect-and-leave rounds. @default 10 */
  rounds: number;
  /** Churn: seconds between the last viewer gone and the round's sample. @default 10 */
  settle: number;
  /** Churn: how the viewers leave. @default 'mixed' */
  leave: LeaveMode;
  /** Source frame rate. @default 30 */
  fps: number;
  /**
   * Each viewer's `?fps=`. @default 10 for soak (the route's own default), 1 for churn: a churn
   * viewer only needs its first frame (sent on subscribe), and on the shared 2-core machine
   * 2000 viewers at 10 fps slowed handshakes to a few a second, ten minutes a round.
   */
  cap: number;
  /** Source JPEG size. @default 65536 */
  frameBytes: number;
  /** @default 80 */
  quality: number;
  /** @default 50 */
  connectConcurrency: number;
  /** Extra Node/V8 flags for the server child. */
  nodeFlags: string[];
  json: string | undefined;
}

export const SOAK_HELP = `Usage: npm run bench -- --scenario soak|churn [options]

framehub's memory, descriptors and fps over time, on WS /stream/:id (seeds/002 JSON frames) of
one bench stream: 1280x720 JPEGs passed through, base64 in JSON, built once per frame.

  soak    --clients viewers stay connected: --warmup s, then --duration s sampled every
          --sample-every s (RSS, heap, descriptors, each viewer's fps)
  churn   --clients viewers connect, each receives a frame, all leave; --rounds times, each
          round sampled --settle s after the last viewer is gone (and again after a forced GC)

  --clients <n>             viewers (default 1000 for soak, 2000 for churn)
  --duration <s>            soak: measured seconds after the warm-up (default 600)
  --warmup <s>              soak: seconds before the reference sample (default 60)
  --sample-every <s>        soak: seconds between samples (default 5)
  --rounds <n>              churn: rounds (default 10)
  --settle <s>              churn: seconds after the last close before sampling (default 10)
  --leave <close|drop|mixed> churn: viewers send a close frame, drop the TCP connection, or
                            half each (default mixed)
  --fps <n>                 source frame rate (default 30)
  --cap <n>                 each viewer's ?fps= (default 10, the route's default, for soak;
                            1 for churn, whose viewers need only their first frame)
  --frame-bytes <n>         source JPEG size (default 65536)
  --quality <n>             JPEG quality, of the source and the viewers' ?quality= (default 80)
  --connect-concurrency <n> handshakes in flight (default 50)
  --node-flags=<flags>      extra Node/V8 flags for the server child
  --json <file>             also write every sample as JSON
  -h, --help                show this help

The server child gets its environment: e.g. MALLOC_ARENA_MAX=2 npm run bench -- --scenario churn.
`;

/** Parses soak/churn arguments; throws with a message for anything wrong. */
export function parseSoakOptions(argv: string[]): SoakOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string' }, clients: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' },
      'sample-every': { type: 'string' }, rounds: { type: 'string' }, settle: { type: 'string' }, leave: { type: 'string' },
      fps: { type: 'string' }, cap: { type: 'string' }, 'frame-bytes': { type: 'string' }, quality: { type: 'string' },
      'connect-concurrency': { type: 'string' }, 'node-flags': { type: 'string' }, json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const scenario = values.scenario;
  if (scenario !== 'soak' && scenario !== 'churn') throw new Error(`--scenario must be soak or churn here (got ${scenario})`);
  const leave = values.leave ?? 'mixed';
  if (!LEAVE_MODES.includes(leave as LeaveMode)) throw new Error(`--leave must be one of ${LEAVE_MODES.join(', ')} (got ${leave})`);
  return {
    scenario,
    clients: Math.round(numberOption('clients', values.clients, scenario === 'soak' ? 1000 : 2000, 1, 10_000)),
    duration: numberOption('duration', values.duration, 600, 1, 24 * 3600),
    warmup: numberOption('warmup', values.warmup, 60, 0, 3600),
    sampleEvery: numberOption('sample-every', values['sample-every'], 5, 1, 600),
    rounds: Math.round(numberOption('rounds', values.rounds, 10, 1, 100)),
    settle: numberOption('settle', values.settle, 10, 0, 600),
    leave: leave as LeaveMode,
    fps: Math.round(numberOption('fps', values.fps, 30, 1, 60)),
    cap: Math.round(numberOption('cap', values.cap, scenario === 'soak' ? 10 : 1, 1, 60)),
    frameBytes: Math.round(numberOption('frame-bytes', values['frame-bytes'], 65_536, 4096, 4 * 1024 * 1024)),
    quality: Math.round(numberOption('quality', values.quality, 80, 10, 100)),
    connectConcurrency: Math.round(numberOption('connect-concurrency', values['connect-concurrency'], 50, 1, 1000)),
    nodeFlags: (values['node-flags'] ?? '').split(/\s+/).filter(Boolean),
    json: values.json,
  };
}
