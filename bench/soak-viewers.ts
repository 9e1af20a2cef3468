import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { openRawWebSocket } from './raw-ws-client.js';

/** The start of every `frame` message on `WS /stream/:id` (seeds/002): `{"type":"frame",…}`. */
const FRAME_HEAD = Buffer.from('{"type":"frame"');
const OP_TEXT = 0x1;

/** How viewers leave: a WebSocket close frame (a page closed), the TCP connection dropped (a tab killed, a network gone), or half each. */
export type LeaveMode = 'close' | 'drop' | 'mixed';
export const LEAVE_MODES: readonly LeaveMode[] = ['close', 'drop', 'mixed'];

export interface Viewer {
  readonly index: number;
  /** `frame` messages received. */
  frames: number;
  readonly socket: Socket;
  /** Set when this side ended the connection. */
  leaving: boolean;
}

/**
 * Viewers of `WS /stream/:id` (JSON text frames), read with the bench's raw client
 * (raw-ws-client.ts): each copies the first bytes of a message and counts the rest, so a
 * thousand of them in one process cost little more than the kernel's copies.
 */
export class ViewerSet {
  readonly viewers: Viewer[] = [];
  /** Connections the server ended while this side was not leaving: must stay 0. */
  lost = 0;
  /** The close frames and errors behind `lost`, by text, for the report. */
  readonly lostReasons = new Map<string, number>();

  constructor(readonly url: string) {}

  /** Opens `count` viewers, `concurrency` handshakes at a time, all within `timeoutMs`. */
  async connect(count: number, concurrency: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const first = this.viewers.length;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const index = first + next++;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`connecting ${count} viewers took longer than ${timeoutMs} ms (${this.viewers.length - first} open)`);
        this.viewers.push(await this.#open(index, left));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  }

  /** Resolves once every viewer has had at least one frame (polled: a frame count has no event worth one listener per viewer). */
  async firstFrames(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.viewers.some((v) => v.frames === 0)) {
      if (Date.now() > deadline) {
        const waiting = this.viewers.filter((v) => v.frames === 0).length;
        throw new Error(`${waiting} of ${this.viewers.length} viewers had no frame after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Every viewer leaves (see LeaveMode) and is forgotten; resolves when every socket has closed. */
  async leave(mode: LeaveMode): Promise<void> {
    const closed = this.viewers.map((viewer) => new Promise<void>((resolve) => {
      viewer.leaving = true;
      if (viewer.socket.destroyed) return resolve();
      viewer.socket.once('close', () => resolve());
      if (mode === 'close' || (mode === 'mixed' && viewer.index % 2 === 0)) sendClose(viewer.socket);
      else viewer.socket.destroy();
    }));
    this.viewers.length = 0;
    await Promise.all(closed);
  }

  async #open(index: number, timeoutMs: number): Promise<Viewer> {
    const viewer = { index, frames: 0, leaving: false } as Viewer;
    const onMessage = (head: Buffer): void => {
      if (head.length >= FRAME_HEAD.length && head.compare(FRAME_HEAD, 0, FRAME_HEAD.length, 0, FRAME_HEAD.length) === 0) viewer.frames++;
    };
    const socket = await openRawWebSocket(this.url, FRAME_HEAD.length, timeoutMs, onMessage, OP_TEXT);
    (viewer as { socket: Socket }).socket = socket;
    socket.on('error', (error) => this.#lose(viewer, error.message));
    socket.on('close', () => this.#lose(viewer, 'connection closed by the server'));
    return viewer;
  }

  #lose(viewer: Viewer, reason: string): void {
    if (viewer.leaving) return;
    viewer.leaving = true;
    this.lost++;
    this.lostReasons.set(reason, (this.lostReasons.get(reason) ?? 0) + 1);
  }
}

/** A masked close frame with status 1000, then the end of our side of the connection. */
function sendClose(socket: Socket): void {
  const mask = randomBytes(4);
  const frame = Buffer.from([0x88, 0x82, mask[0]!, mask[1]!, mask[2]!, mask[3]!, 0x03 ^ mask[0]!, 0xe8 ^ mask[1]!]);
  socket.end(frame);
}
