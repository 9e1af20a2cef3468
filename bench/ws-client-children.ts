import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WsChildReply, WsChildRequest } from './ws-client-child.js';
import { mergeLatencies, type RecordedLatencies, type ViewerCounts, type Viewers } from './viewers.js';

type Request = WsChildRequest extends infer R ? R extends { id: number } ? Omit<R, 'id'> : never : never;

/**
 * `ws` library clients in `procs` child processes (bench/ws-client-child.ts), dealt out one
 * by one so each process holds its share. Each child's counters are read over IPC.
 */
export class WsClientChildren implements Viewers {
  readonly #children: ChildProcess[] = [];
  readonly #waiting = new Map<number, (reply: WsChildReply) => void>();
  #nextId = 1;
  #opened = 0;
  /** Every child has its listener (its first message, id 0). */
  readonly #ready: Promise<unknown>;

  constructor(url: string, procs: number) {
    const entry = fileURLToPath(new URL('ws-client-child.ts', import.meta.url));
    for (let i = 0; i < procs; i++) {
      const child = fork(entry, [url], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (reply: WsChildReply) => {
        const waiter = this.#waiting.get(reply.id);
        this.#waiting.delete(reply.id);
        waiter?.(reply);
      });
      this.#children.push(child);
    }
    this.#ready = Promise.all(this.#children.map((child) => new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`ws client process exited at start (${code})`)));
    })));
    this.#ready.catch(() => {}); // reported by the first #ask
  }

  async connect(count: number, concurrency: number, timeoutMs: number): Promise<void> {
    // Dealt round-robin from where the last call stopped: one client goes to the first child.
    const share = this.#children.map(() => 0);
    for (let i = 0; i < count; i++) share[(this.#opened + i) % share.length]!++;
    this.#opened += count;
    const each = Math.max(1, Math.ceil(concurrency / this.#children.length));
    await Promise.all(share.map((n, i) => (n > 0 ? this.#ask(i, { type: 'connect', count: n, concurrency: each, timeoutMs }, timeoutMs + 5000) : undefined)));
  }

  async firstFrames(timeoutMs: number): Promise<void> {
    await this.#all({ type: 'first-frames', timeoutMs }, timeoutMs + 5000);
  }

  async counts(): Promise<ViewerCounts> {
    const replies = await this.#all({ type: 'counts' });
    return { frames: replies.flatMap((r) => r.frames ?? []), bytes: replies.reduce((sum, r) => sum + (r.bytes ?? 0), 0) };
  }

  async record(): Promise<void> {
    await this.#all({ type: 'record' });
  }

  async recorded(): Promise<RecordedLatencies> {
    const replies = await this.#all({ type: 'recorded' }, 60_000);
    return mergeLatencies(replies.map((r) => ({ latencies: Float64Array.from(r.latencies ?? []), unstamped: r.unstamped ?? 0 })));
  }

  async cpuMicros(): Promise<number> {
    const replies = await this.#all({ type: 'cpu' });
    return replies.reduce((sum, r) => sum + (r.cpuMicros ?? NaN), 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.#children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.disconnect();
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    })));
  }

  /** Children that hold clients (all of them once each has one). */
  #all(request: Request, timeoutMs = 10_000): Promise<WsChildReply[]> {
    const busy = this.#children.map((_, i) => i).filter((i) => i < this.#opened);
    return Promise.all(busy.map((i) => this.#ask(i, request, timeoutMs)));
  }

  async #ask(child: number, request: Request, timeoutMs = 10_000): Promise<WsChildReply> {
    await this.#ready;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`ws client process ${child} did not answer ${request.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error !== undefined) reject(new Error(`ws client process ${child}: ${reply.error}`));
        else resolve(reply);
      });
      this.#children[child]!.send({ ...request, id });
    });
  }
}
