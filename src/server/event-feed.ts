import { WebSocket } from 'ws';
import { CloseCode } from '../wire/close-codes.js';
import { wsSend } from './ws-send.js';
import { closeSocket } from './ws-close.js';
import type { EventLog, LogEntry } from '../generations/event-log.js';

export interface EventFeedOptions<T> {
  /** Last id the client received (`?since=`); `undefined` = live from now. */
  since: number | undefined;
  /** Which entries this client sees (route and user). */
  filter(entry: LogEntry<T>): boolean;
  /** The entry's wire message, built once per entry and shared (`undefined` = nothing to send). */
  render(entry: LogEntry<T>): Buffer | Promise<Buffer> | undefined;
  /** Tells the client that events it asked for are gone. */
  onGap(gap: { reason: 'evicted' | 'ahead'; since: number; resumeAfter: number }): void;
  /** Called when an entry cannot be rendered; the feed skips it and goes on. */
  onError(error: unknown, entry: LogEntry<T>): void;
  /**
   * Unsent events (log ids past the cursor) allowed before the client is closed with 4408.
   * Must stay below the log's size, so that the events are still there when it comes back with `?since=`.
   */
  maxLag: number;
  /** Told when the feed closes the client for lagging, to count it. */
  onTooSlow?: () => void;
}

/**
 * One client's view of the replay log: a cursor and a pump. The pump sends the entry after the
 * cursor, waits until `ws` has handed it to the kernel, then sends the next; so a slow client
 * holds at most one message in user space and never a queue. Its backlog is the log itself,
 * which is bounded: a client more than `maxLag` events behind is closed with 4408 and catches
 * up by reconnecting with `?since=<last id it received>`, while the events are still held.
 */
export class EventFeed<T> {
  #cursor: number;
  #pumping = false;
  #closed = false;
  /** Messages sent, for stats and tests. */
  sent = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly log: EventLog<T>,
    private readonly options: EventFeedOptions<T>,
  ) {
    const { since } = options;
    this.#cursor = since ?? log.lastId;
    if (since !== undefined && since > log.lastId) {
      options.onGap({ reason: 'ahead', since, resumeAfter: log.lastId });
      this.#cursor = log.lastId;
    }
    log.on('append', this.#logOnAppend);
    ws.on('close', this.#socketOnClose);
    void this.#pump();
  }

  /** Id of the last entry handed to the socket (or skipped by the filter). */
  get cursor(): number {
    return this.#cursor;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.log.off('append', this.#logOnAppend);
    this.ws.off('close', this.#socketOnClose);
  }

  readonly #logOnAppend = (entry: LogEntry<T>): void => {
    if (entry.id - this.#cursor > this.options.maxLag) {
      this.close();
      this.options.onTooSlow?.();
      closeSocket(this.ws, CloseCode.TooSlow, `consumer too slow; reconnect with ?since=<last id received>`);
      return;
    }
    void this.#pump();
  };

  readonly #socketOnClose = (): void => this.close();

  async #pump(): Promise<void> {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    try {
      while (!this.#closed && this.ws.readyState === WebSocket.OPEN) {
        if (this.log.hasLost(this.#cursor)) {
          const resumeAfter = this.log.oldestId - 1;
          this.options.onGap({ reason: 'evicted', since: this.#cursor, resumeAfter });
          this.#cursor = resumeAfter;
        }
        const entry = this.log.next(this.#cursor);
        if (!entry) break;
        if (!this.options.filter(entry)) {
          this.#cursor = entry.id;
          continue;
        }
        let message: Buffer | undefined;
        try {
          message = await this.options.render(entry);
        } catch (error) {
          // E.g. the image file was deleted by retention: report it and go on with the next one.
          this.options.onError(error, entry);
          message = undefined;
        }
        // The cursor moves only once the message is on its way: ids stay in order, none twice.
        if (message !== undefined && !this.#closed) {
          await wsSend(this.ws, message, false);
          this.sent++;
        }
        this.#cursor = Math.max(this.#cursor, entry.id);
      }
    } catch {
      // The socket closed under the send; its close handler ends the feed.
    } finally {
      this.#pumping = false;
    }
  }
}
