// seeds/004 against framehub (issue 20, point 2): what a user pays for N viewers of the demo,
// frames delivered per CPU-second of the whole server process, framehub's demo stream on
// /ws/video_feed against seeds/004's own FastAPI server, side by side in interleaved rounds.
//
//   npm run bench -- --scenario seed004 [--clients 100] [--rounds 3] [--framehub .,/work/main]
//
// The seed's server is read at run time from the seed document (--seed-file) into a temporary
// directory and run there with Debian's python3 (python3-fastapi, python3-uvicorn,
// python3-opencv); nothing of it is kept in this repository.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as createServerConnection, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PatternSource } from '../src/sources/pattern-source.js';
import { numberOption, startScriptFlags } from './bench-options.js';
import { ClientSwarm } from './client-swarm.js';
import { ascending, median } from './percentiles.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `Usage: npm run bench -- --scenario seed004 [options]

Frames delivered per CPU-second of the whole server process (all its threads and children),
framehub's demo stream on /ws/video_feed (seeds/004's route) against seeds/004's own FastAPI
server, both read by the same N clients (one binary JPEG per WebSocket message). Each round
runs every server once, in alternating order; figures are medians over the rounds.

framehub runs as \`npm start\` runs it (node with the start script's flags, MALLOC_ARENA_MAX=2,
the built dist/ of each tree given, its default demo stream). The seed's server gets
framehub's demo pictures: --loop-frames frames rendered by this tree's PatternSource
(1280x720), looped at --fps by a stand-in for the seed's undefined \`video_handler\`.

  --seed-file <path>     the seed document (default ../shared/seeds/004_*.txt next to the repo)
  --python <path>        the Python to run the seed with (default /usr/bin/python3)
  --framehub <dirs>      framehub trees to run, comma-separated, each with a built dist/
                         (default: this tree); e.g. .,/work/main for before/after
  --no-seed              leave the seed's server out (framehub trees only)
  --clients <n>          viewers per server (default 100)
  --rounds <n>           rounds (default 3)
  --warmup <s>           seconds of traffic before measuring (default 12: the demo's bars repeat
                         every 320 frames, 10.7 s at 30 fps, and its band cache fills over one cycle)
  --duration <s>         measured seconds per run (default 10)
  --fps <n>              frame rate of both sources (default 30)
  --loop-frames <n>      demo frames the seed's source loops over (default 30)
  -h, --help             show this help
`;

interface Options {
  seedFile: string | undefined;
  python: string;
  framehub: string[];
  seed: boolean;
  clients: number;
  rounds: number;
  warmup: number;
  duration: number;
  fps: number;
  loopFrames: number;
}

interface Contender {
  label: string;
  start(port: number): ChildProcess;
}

interface RunResult {
  label: string;
  framesPerSecond: number;
  /** Median over clients of each client's frames per second. */
  clientFps: number;
  cpuCores: number;
  framesPerCpuSecond: number;
  bytesPerFrame: number;
  load: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** The server child running now, for the watchdog to kill: every process the bench starts stops with it. */
let running: ChildProcess | undefined;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string' }, 'seed-file': { type: 'string' }, python: { type: 'string' }, framehub: { type: 'string' },
      'no-seed': { type: 'boolean' }, clients: { type: 'string' }, rounds: { type: 'string' }, warmup: { type: 'string' },
      duration: { type: 'string' }, fps: { type: 'string' }, 'loop-frames': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  return {
    seedFile: values['seed-file'],
    python: values.python ?? '/usr/bin/python3',
    framehub: (values.framehub ?? '.').split(',').map((dir) => resolve(REPO, dir.trim())).filter(Boolean),
    seed: !values['no-seed'],
    clients: Math.round(numberOption('clients', values.clients, 100, 1, 2000)),
    rounds: Math.round(numberOption('rounds', values.rounds, 3, 1, 20)),
    warmup: numberOption('warmup', values.warmup, 12, 0, 120),
    duration: numberOption('duration', values.duration, 10, 1, 600),
    fps: Math.round(numberOption('fps', values.fps, 30, 1, 60)),
    loopFrames: Math.round(numberOption('loop-frames', values['loop-frames'], 30, 1, 300)),
  };
}

/** The seed document: --seed-file, else the one 004_*.txt in ../shared/seeds next to the repository. */
function seedDocument(given: string | undefined): string {
  if (given !== undefined) return resolve(given);
  const dir = resolve(REPO, '../shared/seeds');
  const found = existsSync(dir) ? readdirSync(dir).filter((name) => /^004_.*\.txt$/.test(name)) : [];
  if (found.length !== 1) throw new Error(`no single seeds/004 document in ${dir} (found ${found.length}); give --seed-file`);
  return join(dir, found[0]!);
}

/** The seed's server: its first Python code block that creates the FastAPI app and the route. */
export function extractSeedServer(document: string): string {
  for (const match of document.matchAll(/```python\n([\s\S]*?)```/g)) {
    const code = match[1]!;
    if (code.includes('FastAPI()') && code.includes('/ws/video_feed')) return code;
  }
  throw new Error('the seed document has no Python block with FastAPI() and /ws/video_feed');
}

// Our stand-in for what the seed leaves undefined (its `video_handler`), and the uvicorn start.
// The frames come from framehub's demo (identical pixels), swapped in at the source rate; the
// seed's own code then encodes per client as written.
const RUNNER = String.raw`
import socket, sys, threading, time
import numpy as np
import uvicorn

frames_path, count, height, width, fps, seed_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
# framehub renders RGB; OpenCV encodes BGR: swap once, up front.
frames = np.ascontiguousarray(np.fromfile(frames_path, dtype=np.uint8).reshape(count, height, width, 3)[..., ::-1])

class VideoHandler:
    current_osd_frame = None
    current_raw_frame = None

video_handler = VideoHandler()

def produce():
    start = time.monotonic()
    i = 0
    while True:
        frame = frames[i % count]
        video_handler.current_osd_frame = frame
        video_handler.current_raw_frame = frame
        i += 1
        time.sleep(max(0.0, start + i / fps - time.monotonic()))

threading.Thread(target=produce, daemon=True).start()
namespace = {'__name__': 'seed004_server', 'video_handler': video_handler}
with open(seed_path) as f:
    exec(compile(f.read(), seed_path, 'exec'), namespace)
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(('127.0.0.1', int(sys.argv[7])))
server = uvicorn.Server(uvicorn.Config(namespace['app'], log_level='warning', lifespan='off'))
server.run(sockets=[sock])
`;

/** A free TCP port on 127.0.0.1 (closed again; the server binds it right after). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** CPU seconds of a process, its reaped children and its live descendants (/proc, clock ticks of 1/100 s). */
function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  const visit = (id: number): void => {
    try {
      const stat = readFileSync(`/proc/${id}/stat`, 'latin1');
      // Fields after the command name (which may hold spaces): utime is the 14th field overall.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const children = readFileSync(`/proc/${id}/task/${task}/children`, 'latin1').trim();
        if (children) for (const child of children.split(' ')) visit(Number(child));
      }
    } catch {
      // The process (or a child) exited meanwhile: what it used is in its parent's cutime/cstime.
    }
  };
  visit(pid);
  return ticks / 100;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited before it listened (${child.signalCode ?? child.exitCode})`);
    const ok = await new Promise<boolean>((done) => {
      const socket = createServerConnection(port);
      socket.once('connect', () => { socket.destroy(); done(true); });
      socket.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function framehubContender(dir: string, clients: number): Contender {
  const entry = join(dir, 'bin/framehub.js');
  if (!existsSync(join(dir, 'dist/cli/main.js'))) throw new Error(`${dir} has no dist/: build it first (npm run build)`);
  const label = dir === REPO ? 'framehub (this tree)' : `framehub (${dir})`;
  return {
    label,
    start: (port) => spawn(process.execPath, [...startScriptFlags(), entry, 'serve', '--host', '127.0.0.1', '--port', String(port),
      '--log-level', 'warn', '--max-clients', String(clients + 16), '--max-clients-per-ip', String(clients + 16),
      '--max-connections-per-ip', String(clients + 64)], {
      cwd: dir,
      env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  };
}

async function seedContender(options: Options, workDir: string): Promise<Contender> {
  const document = seedDocument(options.seedFile);
  const serverPath = join(workDir, 'seed004_server.py');
  await writeFile(serverPath, extractSeedServer(readFileSync(document, 'utf8')));
  const runnerPath = join(workDir, 'runner.py');
  await writeFile(runnerPath, RUNNER);
  // framehub's demo pictures, rendered by this tree's source, for the seed's source to loop over.
  const pattern = new PatternSource({ fps: options.fps });
  const framesPath = join(workDir, 'frames.rgb');
  const epoch = Date.now();
  const frames = Array.from({ length: options.loopFrames }, (_, i) => pattern.render(i + 1, new Date(epoch + (i * 1000) / options.fps)).data);
  await writeFile(framesPath, Buffer.concat(frames));
  log(`seed004: server code from ${document} (${basename(serverPath)} in ${workDir}), ${options.loopFrames} demo frames ${pattern.width}x${pattern.height}`);
  return {
    label: `seeds/004 FastAPI (${basename(options.python)})`,
    start: (port) => spawn(options.python, [runnerPath, framesPath, String(options.loopFrames), String(pattern.height), String(pattern.width),
      String(options.fps), serverPath, String(port)], { cwd: workDir, stdio: ['ignore', 'ignore', 'pipe'] }),
  };
}

async function runOne(contender: Contender, options: Options): Promise<RunResult> {
  const port = await freePort();
  const child = contender.start(port);
  running = child;
  child.on('error', (error) => log(`${contender.label}: ${error.message}`));
  // The seed's handler lets a closing client's exception through to uvicorn, which logs a trace
  // per client at the end of every run: keep only the tail, shown if the server fails.
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderrTail = (stderrTail + chunk.toString()).slice(-4000); });
  const swarm = new ClientSwarm('raw', `ws://127.0.0.1:${port}/ws/video_feed`);
  try {
    await waitForPort(port, child, 30_000).catch((error: Error) => {
      throw new Error(`${contender.label}: ${error.message}${stderrTail ? `\n${stderrTail}` : ''}`);
    });
    await swarm.connect(options.clients, 25, 60_000);
    await swarm.firstFrames(60_000);
    await new Promise((r) => setTimeout(r, options.warmup * 1000));
    const pid = child.pid!;
    const count = () => swarm.clients.reduce((sum, c) => sum + c.frames, 0);
    const bytes = () => swarm.clients.reduce((sum, c) => sum + c.bytes, 0);
    const perClient0 = swarm.clients.map((c) => c.frames);
    const frames0 = count();
    const bytes0 = bytes();
    const cpu0 = treeCpuSeconds(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, options.duration * 1000));
    const frames = count() - frames0;
    const cpu = treeCpuSeconds(pid) - cpu0;
    const seconds = (performance.now() - t0) / 1000;
    const byteCount = bytes() - bytes0;
    const clientFps = median(ascending(swarm.clients.map((c, i) => (c.frames - perClient0[i]!) / seconds)));
    return {
      label: contender.label,
      framesPerSecond: frames / seconds,
      clientFps,
      cpuCores: cpu / seconds,
      framesPerCpuSecond: frames / cpu,
      bytesPerFrame: byteCount / Math.max(1, frames),
      load: loadavg()[0]!,
    };
  } finally {
    swarm.close();
    await stopChild(child);
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function line(r: RunResult): string {
  return `  ${r.label.padEnd(34)} ${fmt(r.framesPerSecond).padStart(6)} frames/s  client fps ${fmt(r.clientFps, 1).padStart(5)}  ` +
    `CPU ${fmt(r.cpuCores, 2)} cores  ${fmt(r.framesPerCpuSecond).padStart(6)} frames/CPU-s  ${fmt(r.bytesPerFrame / 1024, 1)} KiB/frame  load ${fmt(r.load, 1)}`;
}

export async function runSeed004Bench(argv: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  const workDir = await mkdtemp(join(tmpdir(), 'framehub-seed004-'));
  // Bounds the whole run whatever hangs; every run also has its own timeouts.
  const contenders: Contender[] = options.framehub.map((dir) => framehubContender(dir, options.clients));
  const watchdog = setTimeout(() => {
    log('seed004: watchdog expired');
    running?.kill('SIGKILL');
    process.exit(1);
  }, options.rounds * (contenders.length + 1) * (options.warmup + options.duration + 150) * 1000);
  watchdog.unref();
  try {
    if (options.seed) contenders.push(await seedContender(options, workDir));
    const rounds: RunResult[][] = [];
    for (let round = 0; round < options.rounds; round++) {
      // Alternate the order (ABC, CBA, ...) so drift in the machine's load falls on every server alike.
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      const results: RunResult[] = [];
      log(`round ${round + 1}/${options.rounds}, ${options.clients} clients, ${new Date().toISOString()}`);
      for (const contender of order) {
        const result = await runOne(contender, options);
        log(line(result));
        results.push(result);
      }
      rounds.push(contenders.map((c) => results.find((r) => r.label === c.label)!));
    }
    const out: string[] = [`seed004: ${options.clients} clients, ${options.rounds} rounds of ${options.duration} s (after ${options.warmup} s warm-up), ${options.fps} fps sources`];
    out.push('medians over rounds:');
    for (let i = 0; i < contenders.length; i++) {
      const of = (pick: (r: RunResult) => number) => median(ascending(rounds.map((round) => pick(round[i]!))));
      out.push(line({
        label: contenders[i]!.label, framesPerSecond: of((r) => r.framesPerSecond), clientFps: of((r) => r.clientFps),
        cpuCores: of((r) => r.cpuCores), framesPerCpuSecond: of((r) => r.framesPerCpuSecond), bytesPerFrame: of((r) => r.bytesPerFrame), load: of((r) => r.load),
      }));
    }
    const seedIndex = options.seed ? contenders.length - 1 : -1;
    const baseIndex = seedIndex >= 0 ? seedIndex : contenders.length > 1 ? contenders.length - 1 : -1;
    if (baseIndex >= 0) {
      for (let i = 0; i < contenders.length; i++) {
        if (i === baseIndex) continue;
        const ratios = rounds.map((round) => round[i]!.framesPerCpuSecond / round[baseIndex]!.framesPerCpuSecond);
        out.push(`frames per CPU-second, ${contenders[i]!.label} / ${contenders[baseIndex]!.label}: ` +
          `${fmt(median(ascending(ratios)), 2)}x median of rounds (${ratios.map((r) => `${fmt(r, 2)}x`).join(', ')})`);
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    clearTimeout(watchdog);
    await rm(workDir, { recursive: true, force: true });
  }
}
