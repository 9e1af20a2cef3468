import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/framehub.js', import.meta.url));

/** The primary stream every run watches: small frames, so encoding costs little and the fps is the test. */
export const VIEWER_FPS = 10;

/**
 * A recording every server under test has on disk from the start (the fuzzer never records):
 * `recording:<id>` is a playback to steer. Its stream, `fuzzrec`, is configured nowhere, so on
 * the auth server watching it takes `view:fuzzrec`, a scope no "near" token holds.
 */
export const FUZZ_RECORDING_ID = '20010101T000000Z-f022f022';
export const FUZZ_RECORDING_STREAM = 'fuzzrec';
/** Seconds the fuzz recording lasts: seeks past it are refused. */
export const FUZZ_RECORDING_SECONDS = 4;

/** Writes the fuzz recording into `dir` as the recorder would: a fragmented MP4 and its index entry. */
async function writeFuzzRecording(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${FUZZ_RECORDING_ID}.mp4`);
  await new Promise<void>((resolve, reject) => {
    execFile('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=s=320x180:r=30:d=${FUZZ_RECORDING_SECONDS}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', '-pix_fmt', 'yuv420p',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', '-y', file], { timeout: 60_000 }, (error) => (error ? reject(error) : resolve()));
  });
  const meta = { recording_id: FUZZ_RECORDING_ID, stream: FUZZ_RECORDING_STREAM, started_at: '2001-01-01T00:00:00.000Z', ended_at: '2001-01-01T00:00:04.000Z' };
  await writeFile(join(dir, `${FUZZ_RECORDING_ID}.json`), `${JSON.stringify(meta)}\n`);
}

export interface ServerUnderTestOptions {
  name: string;
  env: Record<string, string>;
}

/**
 * A real framehub, `node bin/framehub.js serve`, in its own process (run `npm run build`
 * first): what the fuzzer attacks and whose survival it checks. The process is the one users
 * run; nothing of it is replaced or wrapped.
 */
export class ServerUnderTest {
  readonly #output: string[] = [];
  /** Log lines at level error (50) or fatal (60): things the server itself found wrong. */
  errorLines = 0;
  /** The first distinct error messages (`msg` and the error's message), for the summary. */
  readonly errorMessages = new Set<string>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly port: number,
    readonly pid: number,
    readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        if (/"level":(50|60)/.test(line)) {
          this.errorLines++;
          if (this.errorMessages.size < 10) this.errorMessages.add(errorSummary(line));
        }
        this.#output.push(line.slice(0, 2000));
        if (this.#output.length > 200) this.#output.shift();
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  static async start({ name, env }: ServerUnderTestOptions): Promise<ServerUnderTest> {
    const dir = await mkdtemp(join(tmpdir(), `framehub-fuzz-${name}-`));
    const config = join(dir, 'framehub.yaml');
    await writeFile(config, `streams:\n  demo:\n    source: pattern\n    fps: ${VIEWER_FPS}\n    width: 320\n    height: 180\n`);
    await writeFuzzRecording(join(dir, 'recordings'));
    const port = await freePort();
    const child = spawn(process.execPath, ['--max-semi-space-size=2', BIN, 'serve', '--config', config, '--port', String(port), '--host', '127.0.0.1'], {
      env: { ...process.env, LOG_LEVEL: 'warn', IMAGE_DIR: join(dir, 'images'), RECORDINGS_DIR: join(dir, 'recordings'), IDLE_GRACE: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', function childOnError() {
      // A spawn failure shows as the exit below.
    });
    const server = new ServerUnderTest(name, child, port, child.pid ?? 0, dir);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${name} server exited at start (${child.exitCode}):\n${server.output()}`);
      if (await server.answersHttp()) return server;
      await new Promise((resolve) => setTimeout(resolve, 100)); // the child has no readiness event; poll its port
    }
    child.kill('SIGKILL');
    throw new Error(`${name} server did not answer within 20 s:\n${server.output()}`);
  }

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** `GET /` answers 200. */
  async answersHttp(): Promise<boolean> {
    try {
      const res = await fetch(`${this.http}/`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /** Resident memory in bytes, from /proc (0 where there is none). */
  async rss(): Promise<number> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status);
      return kb ? Number(kb[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  output(): string {
    return this.#output.slice(-40).join('\n');
  }

  async stop(): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** `msg: err.message` of a pino JSON line, or the line's start. */
function errorSummary(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
    return `${entry.msg ?? ''}: ${entry.err?.message ?? ''}`.slice(0, 200);
  } catch {
    return line.slice(0, 200);
  }
}

/** A port nobody listens on now (the child binds it a moment later). */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  probe.close();
  await once(probe, 'close');
  return port;
}
