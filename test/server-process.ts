import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PRODUCER_TOKEN } from './generations-helpers.js';
import type { TestCleanup } from './temp-dir.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/framehub.js', import.meta.url));

/** `framehub serve` as a real child process (run `npm run build` first: the CLI runs from dist/). */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly http: string;
  readonly ws: string;
  /** Everything it printed so far (pino JSON lines). */
  readonly output: () => string;
  /** Resolves when a line matching `pattern` has been printed. */
  printed(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal) once the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `node bin/framehub.js serve --port 0 --host 127.0.0.1 <args>` and waits for its "serving" line. */
export async function spawnServer(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<{ pattern: RegExp; resolve: () => void }>();
  const onData = (data: Buffer) => {
    out += data.toString();
    for (const w of waiters) {
      if (w.pattern.test(out)) {
        waiters.delete(w);
        w.resolve();
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const printed = (pattern: RegExp, timeoutMs = 30_000) => {
    if (pattern.test(out)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms:\n${out}`)), timeoutMs);
      const waiter = { pattern, resolve: () => { clearTimeout(timer); resolve(); } };
      waiters.add(waiter);
      void exited.then(({ code, signal }) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`exited (${code ?? signal}) before printing ${pattern}:\n${out}`));
      });
    });
  };
  await printed(/framehub serving .* at https?:\/\/\S+?:\d+/, 60_000);
  const [, scheme, port] = /framehub serving .* at (https?):\/\/\S+?:(\d+)/.exec(out)!;
  const secure = scheme === 'https';
  return { child, http: `${scheme}://127.0.0.1:${port}`, ws: `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}`, output: () => out, printed, exited };
}

/**
 * `framehub serve` publishing into `dir` with the tests' producer token (plus `extra` flags),
 * SIGKILLed when the test `t` ends.
 */
export async function serveImages(t: TestCleanup, dir: string, extra: string[] = []): Promise<ServerProcess> {
  const server = await spawnServer(['--producer-token', PRODUCER_TOKEN, '--image-dir', dir, ...extra]);
  t.after(() => killHard(server));
  return server;
}

/**
 * The URL of a `framehub serve` child started some other way, from its "framehub serving … at
 * <url>" line; rejects if the process exits first or after `timeoutMs`.
 */
export function servingUrl(child: ChildProcess, timeoutMs = 60_000): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    child.stdout!.on('data', (d) => {
      out += d;
      const match = /framehub serving .* at (http:\/\/[^"\s]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before serving:\n${out}`));
    });
  });
}

/** Sends `signal` and resolves with how the process ended and how long it took. */
export async function signalAndWait(server: ServerProcess, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = performance.now();
  server.child.kill(signal);
  const result = await server.exited;
  return { ...result, ms: performance.now() - started };
}

/** Kills the process with SIGKILL, like a power cut for the process (the kernel keeps what was written). */
export async function killHard(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGKILL');
  await server.exited;
}

/** Pids of every live process below `pid` (Chromium and its helpers, ffmpeg), from /proc. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z') continue;
    const list = parents.get(Number(ppid)) ?? [];
    list.push(Number(name));
    parents.set(Number(ppid), list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

/** `true` while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
