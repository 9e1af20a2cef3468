import { createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { SessionActivity, SessionActivityEvents } from '../sessions/session-activity.js';
import type { RecorderLog } from './recorder.js';

/** One line of a recording's timeline: ms since the recording started, and what happened. */
export type TimelineEntry =
  | { t: number; type: 'input'; input: SessionActivityEvents['input']['event'] }
  | { t: number; type: 'navigate'; url: string };

/**
 * Bytes the writer may hold while the disk catches up; past it entries are dropped and counted
 * (the recording and the page never wait for the timeline). At ~60 B a line that is thousands
 * of events: a burst, not a backlog.
 */
const MAX_BUFFERED_BYTES = 256 * 1024;

/** Largest timeline served back; a longer file is cut at the last whole line before it. */
export const MAX_TIMELINE_BYTES = 16 * 1024 * 1024;

/**
 * A browser session's input timeline next to its recording (`<id>.events.jsonl`): each input
 * applied to the page and each navigation, one JSON line each, with its time from the start of
 * the recording, so an audit can see what was done and when on the video. Appended as it
 * happens; a file cut short by a crash loses at most its last line.
 */
export class TimelineWriter {
  readonly #file: WriteStream;
  readonly #startedAt: number;
  readonly #detach: () => void;
  #dropped = 0;
  #closed = false;

  constructor(path: string, activity: SessionActivity, startedAt: number, private readonly log: RecorderLog) {
    this.#startedAt = startedAt;
    this.#file = createWriteStream(path, { flags: 'a' });
    this.#file.on('error', (error) => {
      // A timeline that cannot be written ends; the recording goes on without it.
      this.log.warn({ err: error, file: path }, 'recording timeline could not be written; it ends here');
      this.#stopListening();
    });
    const onInput = ({ at, event }: SessionActivityEvents['input']) => this.#write({ t: at - this.#startedAt, type: 'input', input: event });
    const onNavigate = ({ at, url }: SessionActivityEvents['navigate']) => this.#write({ t: at - this.#startedAt, type: 'navigate', url });
    activity.on('input', onInput);
    activity.on('navigate', onNavigate);
    this.#detach = () => {
      activity.off('input', onInput);
      activity.off('navigate', onNavigate);
    };
  }

  /** Entries dropped because the disk was behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Stops listening and finishes the file. Safe to call twice. */
  async close(): Promise<void> {
    this.#stopListening();
    if (this.#file.destroyed || this.#file.closed) return;
    await new Promise<void>((resolve) => this.#file.end(resolve));
    if (this.#dropped > 0) this.log.warn({ dropped: this.#dropped }, 'recording timeline: entries dropped while the disk was behind');
  }

  #stopListening(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
  }

  #write(entry: TimelineEntry): void {
    if (this.#closed) return;
    if (this.#file.writableLength > MAX_BUFFERED_BYTES) {
      this.#dropped++;
      return;
    }
    this.#file.write(`${JSON.stringify(entry)}\n`);
  }
}

/**
 * A timeline file read back: its whole lines up to MAX_TIMELINE_BYTES, each parsed; a line that
 * does not parse (the last one of a file cut short) is left out. No file: no entries.
 */
export async function readTimeline(path: string): Promise<TimelineEntry[]> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const buffer = Buffer.alloc(Math.min((await handle.stat()).size, MAX_TIMELINE_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const entries: TimelineEntry[] = [];
    for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line) as TimelineEntry);
      } catch {
        // A torn line: skipped.
      }
    }
    return entries;
  } finally {
    await handle.close();
  }
}
