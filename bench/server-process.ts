import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BENCH_STREAM, type ChildMessage, type ChildSample, type ParentMessage, type ServerChildOptions } from './child-ipc.js';
import type { Transport } from './client-swarm.js';

export type ServerKind = 'framehub' | 'ws' | 'tcp';

export const SERVER_KINDS: readonly ServerKind[] = ['framehub', 'ws', 'tcp'];

const ENTRY: Record<ServerKind, string> = {
  framehub: 'framehub-server.ts',
  ws: 'ws-loop-server.ts',
  tcp: 'tcp-server.ts',
};

export const SERVER_LABEL: Record<ServerKind, string> = {
  framehub: 'framehub /ws/video_feed',
  ws: 'bare ws loop (a)',
  tcp: 'plain TCP (b)',
};

/** A server under test in its own process, so its CPU and memory are its own. */
export class ServerProcess {
  #nextId = 1;
  readonly #waiting = new Map<number, (message: ChildMessage) => void>();
  #exited: Promise<void>;

  private constructor(
    readonly kind: ServerKind,
    readonly child: ChildProcess,
    readonly port: number,
    readonly frameSizes: number[],
    readonly wireBytes: number,
    /** framehub's stream the clients ask for. */
    readonly streamId: string,
  ) {
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') return;
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      waiter?.(message);
    });
  }

  /** `execArgv` is added to the child's node flags (e.g. `--cpu-prof`). */
  static async start(kind: ServerKind, options: ServerChildOptions, timeoutMs: number, execArgv: string[] = []): Promise<ServerProcess> {
    const entry = fileURLToPath(new URL(ENTRY[kind], import.meta.url));
    const child = fork(entry, [JSON.stringify(options)], {
      execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<Extract<ChildMessage, { type: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${kind} server did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('message', function childOnMessage(message: ChildMessage) {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        child.off('message', childOnMessage);
        resolve(message);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${kind} server exited before it was ready (${signal ?? code})`));
      });
    });
    return new ServerProcess(kind, child, ready.port, ready.frameSizes, ready.wireBytes, ready.streamId ?? BENCH_STREAM);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The TCP baseline speaks its own framing; the WebSocket servers are read by `client`. */
  transport(client: 'ws' | 'raw'): Transport {
    return this.kind === 'tcp' ? 'tcp' : client;
  }

  /** An http:// address on the server's port, for a browser page to have its origin. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Where clients connect: framehub's seeds/004 route on the bench stream, or the baseline's port. */
  get url(): string {
    if (this.kind === 'framehub') return `ws://127.0.0.1:${this.port}/ws/video_feed?stream=${encodeURIComponent(this.streamId)}`;
    if (this.kind === 'ws') return `ws://127.0.0.1:${this.port}/ws/video_feed`;
    return `tcp://127.0.0.1:${this.port}`;
  }

  sample(gc = false): Promise<ChildSample> {
    return this.#ask({ type: 'sample', id: this.#nextId++, gc }).then((m) => (m as Extract<ChildMessage, { type: 'sample' }>).sample);
  }

  stats(): Promise<unknown> {
    return this.#ask({ type: 'stats', id: this.#nextId++ }).then((m) => (m as Extract<ChildMessage, { type: 'stats' }>).stats);
  }

  #ask(message: ParentMessage, timeoutMs = 10_000): Promise<ChildMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(message.id);
        reject(new Error(`${this.kind} server did not answer ${message.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(message.id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.child.send(message);
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }
}
