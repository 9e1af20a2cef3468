import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { listenLocal } from './listen-local.js';
import type { TestCleanup } from './temp-dir.js';

/** A real `redis-server` (Debian's) of one test: its own port on 127.0.0.1, nothing written to disk unless asked. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Stops it (SIGKILL) and waits until it is gone. Safe to call twice. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (picked by the system, then released for redis-server to bind). */
async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listenLocal(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface RedisOptions {
  /**
   * Persist into this directory: an append-only file synced before each write is answered
   * (`appendfsync always`), so a Redis killed and started again on the same directory has every
   * write it acknowledged. Unset: no persistence, a restart loses everything.
   */
  aofDir?: string;
}

/** Starts redis-server on a free port, stopped when the test `t` ends; resolves once it accepts connections. */
export async function startRedis(t: TestCleanup, port?: number, options: RedisOptions = {}): Promise<RedisServer> {
  const chosen = port ?? (await freePort());
  const persistence = options.aofDir === undefined
    ? ['--appendonly', 'no']
    : ['--dir', options.aofDir, '--appendonly', 'yes', '--appendfsync', 'always'];
  const child = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', ...persistence, '--loglevel', 'notice'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('error', () => undefined); // reported by the exit/timeout below
  let out = '';
  const exited = once(child, 'exit');
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready within 20 s:\n${out}`)), 20_000);
    const onData = (data: Buffer) => {
      out += data.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited before it was ready:\n${out}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  t.after(stop);
  await ready;
  return { url: `redis://127.0.0.1:${chosen}`, port: chosen, child, stop };
}
