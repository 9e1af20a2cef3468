import { connect as tcpConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { readStamp, STAMP_END } from './frame-stamp.js';
import { openRawWebSocket, readBuffer } from './raw-ws-client.js';
import type { RecordedLatencies, ViewerCounts, Viewers } from './viewers.js';

/** `ws`: the `ws` library's client; `raw`: bench/raw-ws-client.ts; `tcp`: length-prefixed frames. */
export type Transport = 'ws' | 'raw' | 'tcp';

/** One receiving client's counters; `frames`/`bytes` count payloads (image bytes), not framing. */
export interface BenchClient {
  readonly index: number;
  frames: number;
  bytes: number;
  stalled: boolean;
  stall(): void;
  close(): void;
}

/** Latencies of the frames received while recording, ms, in a growable typed array. */
export class LatencyLog {
  #values = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.length++] = value;
  }

  sorted(): Float64Array {
    return this.#values.slice(0, this.length).sort();
  }
}

/**
 * N clients in this process, all on one server. Each counts what it receives and, while the
 * swarm is recording, logs frame-ready → message-complete latency from the frame's stamp.
 */
export class ClientSwarm implements Viewers {
  readonly clients: BenchClient[] = [];
  latencies = new LatencyLog();
  recording = false;
  /** Messages without a readable stamp: must stay 0, or the latency figures are incomplete. */
  unstamped = 0;

  constructor(
    readonly transport: Transport,
    readonly url: string,
  ) {}

  /** Starts logging latencies afresh. */
  record(): void {
    this.latencies = new LatencyLog();
    this.unstamped = 0;
    this.recording = true;
  }

  #received(client: BenchClient, head: Buffer, size: number): void {
    client.frames++;
    client.bytes += size;
    if (!this.recording) return;
    const stamp = readStamp(head);
    if (!stamp) {
      this.unstamped++;
      return;
    }
    this.latencies.push(performance.timeOrigin + performance.now() - stamp.capturedAt);
  }

  /** Opens `count` clients, `concurrency` handshakes at a time, all within `timeoutMs`. */
  async connect(count: number, concurrency: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const index = next++;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`connecting ${count} clients took longer than ${timeoutMs} ms (${this.clients.length} open)`);
        const open = this.transport === 'ws' ? this.#openWs : this.transport === 'raw' ? this.#openRawWs : this.#openTcp;
        this.clients.push(await open.call(this, index, left));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }

  /** Resolves once every client has received at least one frame. */
  async firstFrames(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.clients.some((c) => c.frames === 0)) {
      if (Date.now() > deadline) {
        const waiting = this.clients.filter((c) => c.frames === 0).length;
        throw new Error(`${waiting} of ${this.clients.length} clients had no frame after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async counts(): Promise<ViewerCounts> {
    return { frames: this.clients.map((c) => c.frames), bytes: this.clients.reduce((sum, c) => sum + c.bytes, 0) };
  }

  async recorded(): Promise<RecordedLatencies> {
    this.recording = false;
    return { latencies: this.latencies.sorted(), unstamped: this.unstamped };
  }

  /** This process's CPU: the clients run here (with the bench's own bookkeeping, which is little). */
  async cpuMicros(): Promise<number> {
    const cpu = process.cpuUsage();
    return cpu.user + cpu.system;
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.close();
  }

  #openWs(index: number, timeoutMs: number): Promise<BenchClient> {
    return new Promise((resolve, reject) => {
      // The client's defaults, as its users have them: it offers permessage-deflate, which
      // framehub and the ws loop decline (no Sec-WebSocket-Extensions in their 101).
      const ws = new WebSocket(this.url, { handshakeTimeout: timeoutMs });
      const client: BenchClient = {
        index, frames: 0, bytes: 0, stalled: false,
        // ws's pause() stops reading the socket: the kernel buffers fill, then the server's writes stall.
        stall: () => { client.stalled = true; ws.pause(); },
        close: () => ws.terminate(),
      };
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) this.#received(client, data, data.length);
      });
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('close', (code, reason) => {
        if (client.frames > 0 && code !== 1005 && code !== 1006) process.stderr.write(`client ${index} closed: ${code} ${reason.toString()}\n`);
      });
    });
  }

  async #openRawWs(index: number, timeoutMs: number): Promise<BenchClient> {
    const client: BenchClient = {
      index, frames: 0, bytes: 0, stalled: false,
      stall: () => { client.stalled = true; socket.pause(); },
      close: () => socket.destroy(),
    };
    const socket = await openRawWebSocket(this.url, STAMP_END, timeoutMs, (head, size) => this.#received(client, head, size));
    return client;
  }

  #openTcp(index: number, timeoutMs: number): Promise<BenchClient> {
    const { hostname, port } = new URL(this.url);
    // Length-prefixed frames; only the prefix and the stamp are copied, the rest is counted.
    const head = Buffer.alloc(4 + STAMP_END);
    let headFill = 0;
    let inBody = false;
    let remaining = 0;
    let size = 0;
    const client: BenchClient = {
      index, frames: 0, bytes: 0, stalled: false,
      stall: () => { client.stalled = true; socket.pause(); },
      close: () => socket.destroy(),
    };
    const onChunk = (chunk: Uint8Array, length: number): void => {
      let offset = 0;
      while (offset < length) {
        if (!inBody) {
          const take = Math.min(head.length - headFill, length - offset);
          head.set(chunk.subarray(offset, offset + take), headFill);
          headFill += take;
          offset += take;
          if (headFill < head.length) break;
          size = head.readUInt32BE(0);
          remaining = size - STAMP_END;
          headFill = 0;
          inBody = true;
        }
        const take = Math.min(remaining, length - offset);
        offset += take;
        remaining -= take;
        if (remaining === 0) {
          inBody = false;
          this.#received(client, head.subarray(4), size);
        }
      }
    };
    // The same shared read buffer as the raw WebSocket clients: equal client cost per byte.
    const socket: Socket = tcpConnect({
      host: hostname, port: Number(port), noDelay: true,
      onread: { buffer: readBuffer, callback: (bytes, buffer) => { onChunk(buffer, bytes); return true; } },
    });
    return new Promise((resolve, reject) => {
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error('tcp connect timeout')));
      socket.once('connect', () => {
        socket.setTimeout(0);
        resolve(client);
      });
      socket.once('error', reject);
    });
  }
}
