import type { BenchOptions } from './bench-options.js';
import type { ServerProcess } from './server-process.js';

/** What a fan-out window reads from its clients, wherever they run. */
export interface ViewerCounts {
  /** Frames each client received so far. */
  frames: number[];
  /** Payload bytes all clients received so far. */
  bytes: number;
}

export interface RecordedLatencies {
  /** Frame ready at the source → client has the whole message, ms, ascending. */
  latencies: Float64Array;
  /** Messages without a readable stamp while recording. */
  unstamped: number;
}

/**
 * The clients of one fan-out run: in this process (ClientSwarm), in child processes
 * (WsClientChildren) or in Chromium pages (BrowserViewers), alone or side by side
 * (MixedViewers). Counters are read with `counts()`, which asks the processes that hold them.
 */
export interface Viewers {
  /** Opens `count` more clients, `concurrency` handshakes at a time. */
  connect(count: number, concurrency: number, timeoutMs: number): Promise<void>;
  /** Resolves once every client has had a frame. */
  firstFrames(timeoutMs: number): Promise<void>;
  counts(): Promise<ViewerCounts>;
  /** Starts logging latencies afresh. */
  record(): void | Promise<void>;
  /** Stops logging and returns what was logged since `record()`. */
  recorded(): Promise<RecordedLatencies>;
  /** CPU time (user + system, µs) of the processes the clients run in, so far; NaN if unknown. */
  cpuMicros(): Promise<number>;
  close(): Promise<void>;
}

/** Sorted copy of several latency logs. */
export function mergeLatencies(parts: RecordedLatencies[]): RecordedLatencies {
  const length = parts.reduce((sum, p) => sum + p.latencies.length, 0);
  const latencies = new Float64Array(length);
  let at = 0;
  for (const part of parts) {
    latencies.set(part.latencies, at);
    at += part.latencies.length;
  }
  return { latencies: latencies.sort(), unstamped: parts.reduce((sum, p) => sum + p.unstamped, 0) };
}

/**
 * Two kinds of clients on one server: the first `connect` calls fill `first` (the one client of
 * a marginal-cost run is one of those), then `second` takes up to `secondMax` clients of every
 * later call and `first` the rest.
 */
export class MixedViewers implements Viewers {
  #opened = 0;
  #secondOpen = 0;

  constructor(
    readonly first: Viewers,
    readonly second: Viewers,
    readonly secondMax: number,
  ) {}

  /** Clients of `second` open now: the last entries of `counts().frames`. */
  get secondOpen(): number {
    return this.#secondOpen;
  }

  async connect(count: number, concurrency: number, timeoutMs: number): Promise<void> {
    const base = this.#opened === 0 ? 1 : 0;
    const second = Math.max(0, Math.min(this.secondMax - this.#secondOpen, count - base));
    this.#opened += count;
    this.#secondOpen += second;
    await this.first.connect(count - second, concurrency, timeoutMs);
    if (second > 0) await this.second.connect(second, concurrency, timeoutMs);
  }

  async firstFrames(timeoutMs: number): Promise<void> {
    await Promise.all([this.first.firstFrames(timeoutMs), this.second.firstFrames(timeoutMs)]);
  }

  async counts(): Promise<ViewerCounts> {
    const [a, b] = await Promise.all([this.first.counts(), this.second.counts()]);
    return { frames: [...a.frames, ...b.frames], bytes: a.bytes + b.bytes };
  }

  async record(): Promise<void> {
    await Promise.all([this.first.record(), this.second.record()]);
  }

  async recorded(): Promise<RecordedLatencies> {
    return mergeLatencies(await Promise.all([this.first.recorded(), this.second.recorded()]));
  }

  async cpuMicros(): Promise<number> {
    const [a, b] = await Promise.all([this.first.cpuMicros(), this.second.cpuMicros()]);
    return a + b;
  }

  async close(): Promise<void> {
    await Promise.all([this.first.close(), this.second.close()]);
  }
}

/** The clients `--client` asks for, on `server` (the TCP baseline is read by TCP clients whatever it says). */
export async function viewersFor(server: ServerProcess, options: BenchOptions): Promise<Viewers> {
  const { ClientSwarm } = await import('./client-swarm.js');
  if (server.kind === 'tcp' || options.client === 'raw') return new ClientSwarm(server.transport('raw'), server.url);
  if (options.client === 'ws') {
    const { WsClientChildren } = await import('./ws-client-children.js');
    return new WsClientChildren(server.url, options.clientProcs);
  }
  const { BrowserViewers } = await import('./browser-viewers.js');
  return new MixedViewers(new ClientSwarm('raw', server.url), new BrowserViewers(server.url, server.origin), options.browserPages);
}
