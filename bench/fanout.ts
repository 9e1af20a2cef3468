import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { CLIENT_KINDS, SOURCE_KINDS, numberOption, type BenchOptions, type ClientKind, type SourceKind } from './bench-options.js';
import { fanoutRun, type FanoutResult, type RunSource } from './fanout-run.js';
import { soakCommand } from './soak.js';
import { stallRun, type StallResult } from './stall-run.js';
import { runKillBench } from './kill.js';
import { runClusterBench } from './cluster.js';
import { runCodecBench } from './codec.js';
import { runRecordingBench } from './recording.js';
import { runEncodeBench } from './encode.js';
import { runGlassBench } from './glass.js';
import { runSeed004Bench } from './seed004.js';
import { SERVER_KINDS, type ServerKind } from './server-process.js';
import { fanoutTable, fanoutTimingLine, hubLine, loadLine, overheadLine, ratioLines, roundsSummary, rssSeriesLine, stallTable } from './report.js';

const HELP = `Usage: npm run bench -- [options]

Fan-out benchmark: N clients on framehub's /ws/video_feed receiving 1280x720 JPEG frames of
about 64 KiB, against (a) a bare ws broadcast loop and (b) plain TCP, same bytes, same clients.
Servers run in child processes; the clients run in this process.

  --clients <n>            clients per run (default 100)
  --duration <s>           measured seconds per fan-out run (default 15)
  --warmup <s>             seconds of traffic before measuring (default 15)
  --scenario <name>        all | fanout | stall (default all); kill (sources killed in a loop),
                           soak | churn (framehub's memory over time on /stream); cluster (three
                           nodes over one redis-server: frames through Redis, CPU per GB, failover);
                           codec (H.264 against JPEG: bytes, SSIM, encoder CPU); recording (disk per
                           hour, recording CPU, viewers' fps while recording); encode (JPEG
                           encode per core against tjbench); glass (capture to drawn in
                           Chromium, per route and stage); seed004 (frames per CPU-second against
                           seeds/004's own server); each of those has its own flags:
                           --scenario kill --help
  --servers <list>         fan-out servers, from framehub,ws,tcp (default all three)
  --stall-servers <list>   stall-scenario servers (default framehub,ws)
  --stall-duration <s>     how long the stall lasts (default 60)
  --stall-before <s>       reference window before the stall (default 10)
  --stall-fraction <x>     share of clients that stop reading (default 0.1)
  --fps <n>                source frame rate (default 30)
  --cap <n>                framehub clients' fps cap, WS_FRAME_RATE (default: --fps)
  --frame-bytes <n>        JPEG size to aim for (default 65536)
  --quality <n>            JPEG quality of the frames and of the clients' request (default 80)
  --rounds <n>             fan-out rounds, each running every server once, summed up by
                           their median (default 5)
  --client <raw|ws|browser> WebSocket clients: a minimal RFC 6455 reader in this process that
                           copies only the stamp (raw, default, as cheap as the TCP clients); the
                           ws library's client, in child processes (ws); or a few Chromium pages
                           next to raw clients (browser). The TCP baseline always reads raw.
  --client-kind <kind>     the same as --client
  --browser-pages <n>      Chromium pages among the clients with --client browser (default 4)
  --client-procs <n>       processes the ws clients are spread over (default ceil(clients/250), min 2)
  --source <kind>          what framehub serves: pre-encoded (default: the bench's stamped JPEGs),
                           demo (framehub's pattern source, drawn and encoded live) or session (a
                           browser session on an animated page). With demo every server runs the
                           demo pattern; with session the baselines send fresh buffers of the
                           size and at the rate framehub's clients got in the same round
  --marginal / --no-marginal  measure each server with 1 client first and report the cost of the
                           other N-1 (the source's cost cancels); default on unless pre-encoded
  --connect-concurrency <n> handshakes in flight while connecting (default 50)
  --json <file>            also write the results as JSON
  --profile <dir>          write a CPU profile (.cpuprofile) of each server child into <dir>
  --node-flags=<flags>     extra Node/V8 flags for every server child, space-separated,
                           e.g. --node-flags="--trace-gc --single-threaded-gc"
  -h, --help               show this help
`;

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      clients: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' },
      scenario: { type: 'string' }, servers: { type: 'string' }, 'stall-servers': { type: 'string' },
      'stall-duration': { type: 'string' }, 'stall-before': { type: 'string' }, 'stall-fraction': { type: 'string' },
      fps: { type: 'string' }, cap: { type: 'string' }, 'frame-bytes': { type: 'string' }, quality: { type: 'string' },
      rounds: { type: 'string' }, client: { type: 'string' }, 'client-kind': { type: 'string' }, 'browser-pages': { type: 'string' },
      'client-procs': { type: 'string' }, source: { type: 'string' }, marginal: { type: 'boolean' }, 'no-marginal': { type: 'boolean' }, 'connect-concurrency': { type: 'string' }, json: { type: 'string' }, profile: { type: 'string' }, 'node-flags': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const kinds = (name: string, raw: string | undefined, fallback: ServerKind[]): ServerKind[] => {
    if (raw === undefined) return fallback;
    const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const kind of list) if (!SERVER_KINDS.includes(kind as ServerKind)) throw new Error(`--${name}: unknown server ${kind} (known: ${SERVER_KINDS.join(', ')})`);
    return list as ServerKind[];
  };
  const scenario = values.scenario ?? 'all';
  if (scenario !== 'all' && scenario !== 'fanout' && scenario !== 'stall') throw new Error(`--scenario must be all, fanout or stall (got ${scenario})`);
  const client = (values['client-kind'] ?? values.client ?? 'raw') as ClientKind;
  if (!CLIENT_KINDS.includes(client)) throw new Error(`--client must be one of ${CLIENT_KINDS.join(', ')} (got ${client})`);
  const source = (values.source ?? 'pre-encoded') as SourceKind;
  if (!SOURCE_KINDS.includes(source)) throw new Error(`--source must be one of ${SOURCE_KINDS.join(', ')} (got ${source})`);
  const clients = Math.round(numberOption('clients', values.clients, 100, 1, 10_000));
  return {
    nodeFlags: (values['node-flags'] ?? '').split(/\s+/).filter(Boolean),
    client,
    browserPages: Math.round(numberOption('browser-pages', values['browser-pages'], 4, 1, 50)),
    clientProcs: Math.round(numberOption('client-procs', values['client-procs'], Math.max(2, Math.ceil(clients / 250)), 1, 32)),
    source,
    marginal: values['no-marginal'] ? false : values.marginal ?? source !== 'pre-encoded',
    clients,
    duration: numberOption('duration', values.duration, 15, 1, 3600),
    warmup: numberOption('warmup', values.warmup, 15, 0, 600),
    scenario,
    servers: kinds('servers', values.servers, [...SERVER_KINDS]),
    stallServers: kinds('stall-servers', values['stall-servers'], ['framehub', 'ws']),
    stallDuration: numberOption('stall-duration', values['stall-duration'], 60, 1, 3600),
    stallBefore: numberOption('stall-before', values['stall-before'], 10, 1, 600),
    stallFraction: numberOption('stall-fraction', values['stall-fraction'], 0.1, 0.01, 0.5),
    fps: Math.round(numberOption('fps', values.fps, 30, 1, 60)),
    cap: Math.round(numberOption('cap', values.cap, numberOption('fps', values.fps, 30, 1, 60), 1, 60)),
    frameBytes: Math.round(numberOption('frame-bytes', values['frame-bytes'], 65_536, 4096, 4 * 1024 * 1024)),
    quality: Math.round(numberOption('quality', values.quality, 80, 10, 100)),
    rounds: Math.round(numberOption('rounds', values.rounds, 5, 1, 20)),
    connectConcurrency: Math.round(numberOption('connect-concurrency', values['connect-concurrency'], 50, 1, 1000)),
    json: values.json,
    profile: values.profile,
  };
}

/** Open-files soft limit of this process (each client is one descriptor here, one in the server). */
function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** The `--scenario` given, before the fan-out options are parsed (the kill scenario has its own). */
function scenarioOf(argv: string[]): string | undefined {
  const at = argv.findIndex((arg) => arg === '--scenario' || arg.startsWith('--scenario='));
  if (at < 0) return undefined;
  return argv[at]!.includes('=') ? argv[at]!.slice('--scenario='.length) : argv[at + 1];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const scenario = scenarioOf(argv);
  if (scenario === 'kill') return runKillBench(argv);
  if (scenario === 'cluster') return runClusterBench(argv);
  if (scenario === 'codec') return runCodecBench(argv);
  if (scenario === 'recording') return runRecordingBench(argv);
  if (scenario === 'encode') return runEncodeBench(argv);
  if (scenario === 'glass') return runGlassBench(argv);
  if (scenario === 'seed004') return runSeed004Bench(argv);
  if (scenario === 'soak' || scenario === 'churn') return soakCommand(argv);
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  const limit = openFilesLimit();
  if (options.clients + 64 > limit) {
    process.stderr.write(`bench: ${options.clients} clients need more open files than the limit of ${limit}; raise it with \`ulimit -n ${options.clients * 2 + 256}\`\n`);
    process.exit(2);
  }
  // Every phase has its own timeout; this bounds the whole run as well, whatever hangs.
  // A marginal run measures a one-client window first; ws client processes and Chromium take
  // their time to start on a busy machine.
  const runSeconds = options.warmup + options.duration + 30 + (options.marginal ? Math.min(options.warmup, 5) + options.duration + 15 : 0) + (options.client === 'raw' ? 0 : 30);
  const fanoutSeconds = options.scenario === 'stall' ? 0 : options.rounds * options.servers.length * runSeconds;
  const stallSeconds = options.scenario === 'fanout' ? 0 : options.stallServers.length * (options.warmup + options.stallBefore + options.stallDuration + 30);
  const watchdog = setTimeout(() => {
    log(`bench: did not finish within ${fanoutSeconds + stallSeconds + 120} s; giving up`);
    process.exit(1);
  }, (fanoutSeconds + stallSeconds + 120 + options.clients * 0.2) * 1000);
  watchdog.unref();

  const cpu = cpus();
  console.log(`# framehub fan-out benchmark, ${new Date().toISOString()}`);
  console.log(`machine: ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, shared with other work`);
  console.log(`options: ${JSON.stringify({ ...options, json: undefined, profile: undefined })}`);

  const fanout: FanoutResult[][] = [];
  if (options.scenario !== 'stall') {
    for (let round = 1; round <= options.rounds; round++) {
      const results: FanoutResult[] = [];
      // A session's frames have their own size and rate: the baselines send fresh buffers of
      // the size framehub's clients got, at the rate they got them, in this same round. (The
      // demo pattern runs in every server itself.)
      let source: RunSource = { fps: options.fps, frameBytes: options.frameBytes };
      for (const kind of options.servers) {
        log(`fan-out round ${round}: ${kind}, ${options.clients} ${options.client} clients, source ${kind === 'framehub' || options.source !== 'session' ? options.source : `pre-encoded ${source.frameBytes} B at ${source.fps} fps`}, ${options.duration} s`);
        const result = await fanoutRun(kind, options, source);
        results.push(result);
        if (kind === 'framehub' && options.source === 'session') {
          source = { fps: Math.round(result.fps.median * 10) / 10, frameBytes: Math.round(result.meanFrameBytes) };
        }
      }
      fanout.push(results);
      console.log(`\n## fan-out, round ${round} of ${options.rounds}: ${options.clients} clients, ${options.fps} fps, frames of ${results[0]?.frameBytes ?? 0} bytes\n`);
      console.log(fanoutTable(results));
      console.log('');
      for (const line of ratioLines(results)) console.log(`- ${line}`);
      console.log(`- ${fanoutTimingLine(results)}`);
      console.log(`- ${overheadLine(results)}`);
      console.log(`- ${loadLine(results)}`);
      for (const r of results) {
        if (r.pageFps) console.log(`- ${r.kind}: the ${r.pageFps.length} Chromium pages got ${r.pageFps.join(', ')} fps`);
        const hub = hubLine(r);
        if (hub) console.log(`- ${hub}`);
        // Demo and session frames are encoded without a stamp: no latency for them.
        if (r.unstamped > 0 && (options.source === 'pre-encoded' || (options.source === 'session' && r.kind !== 'framehub'))) console.log(`- WARNING: ${r.unstamped} messages without a stamp on ${r.kind}`);
      }
    }
  }

  const summary = roundsSummary(fanout);
  if (summary.length > 0) {
    console.log(`\n## fan-out over ${fanout.length} rounds: ${options.clients} clients (the median round is the figure to quote)\n`);
    for (const line of summary) console.log(`- ${line}`);
  }

  const stall: StallResult[] = [];
  if (options.scenario !== 'fanout') {
    for (const kind of options.stallServers) {
      log(`stall: ${kind}, ${options.clients} clients, ${Math.round(options.stallFraction * 100)} % stalled`);
      stall.push(await stallRun(kind, options, log));
    }
    console.log(`\n## stall: ${Math.round(options.stallFraction * 100)} % of ${options.clients} clients stop reading for ${options.stallDuration} s\n`);
    console.log(stallTable(stall));
    console.log('');
    for (const r of stall) {
      console.log(`- ${rssSeriesLine(r)}`);
      const hub = hubLine(r);
      if (hub) console.log(`- ${hub}`);
    }
  }

  if (options.json) writeFileSync(options.json, `${JSON.stringify({ options, fanout, stall }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
