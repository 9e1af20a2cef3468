import { mkdir, open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EventLog, LogEntry } from './event-log.js';
import { syncDirectory } from '../util/sync-directory.js';

/** The first line of a compacted file: ids continue after it even when every entry has expired. */
interface Header {
  lastId: number;
}

/** What a journal file held when the server started. */
export interface JournalContents<T> {
  /** Consecutive entries, oldest first (a file with a hole keeps only the part after it). */
  entries: LogEntry<T>[];
  /** Newest id the file knows, from its header or its entries (0 for no file). */
  lastId: number;
  /** Lines that did not parse (a line torn by `kill -9` or a power cut) or broke the id order. */
  skipped: number;
}

interface Pending<T> {
  event: T;
  syncDir: boolean;
  resolve(entry: LogEntry<T>): void;
  reject(error: unknown): void;
}

export interface EventJournalOptions {
  /** The JSON-lines file; its directory is created on the first write. */
  path: string;
  /** The file is rewritten with only the live entries once it holds this many lines more than the log. */
  slack: number;
  /** Told when a rewrite fails (the file then stays longer than it should, nothing is lost). */
  onCompactError?: (error: unknown) => void;
}

/**
 * The replay log's file: one JSON line per event, appended and `fdatasync`ed before the event
 * enters the in-memory log (and so before any consumer or producer hears of it). Appends that
 * arrive while a write is on disk are written together with the next one (group commit), so
 * concurrent producers share a sync instead of queueing one each.
 *
 * The file is bounded by the log's own retention: once it holds `slack` lines more than the log
 * (entries evicted by REPLAY_SIZE / REPLAY_AGE), it is rewritten with a header line and the live
 * entries (temp file, fsync, rename), in the same queue as the appends.
 */
export class EventJournal<T> {
  readonly path: string;
  readonly #dir: string;
  readonly #slack: number;
  readonly #log: EventLog<T>;
  readonly #onCompactError: (error: unknown) => void;
  #file: FileHandle | undefined;
  /** Lines in the file, header included. */
  #lines = 0;
  #queue: Pending<T>[] = [];
  /** A write failed part-way: the file may end in a partial line, so it is rewritten from the log first. */
  #damaged = false;
  #writing: Promise<void> | undefined;
  #closed = false;

  constructor(log: EventLog<T>, options: EventJournalOptions) {
    this.#log = log;
    this.path = options.path;
    this.#dir = dirname(options.path);
    this.#slack = options.slack;
    this.#onCompactError = options.onCompactError ?? (() => {});
  }

  /** Reads a journal file; a missing file is an empty journal, a bad line is skipped, never fatal. */
  static async read<T>(path: string): Promise<JournalContents<T>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], lastId: 0, skipped: 0 };
      throw error;
    }
    let entries: LogEntry<T>[] = [];
    let lastId = 0;
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        skipped++;
        continue;
      }
      if (isHeader(value)) {
        lastId = Math.max(lastId, value.lastId);
      } else if (isEntry<T>(value) && value.id > (entries.at(-1)?.id ?? 0)) {
        // A hole (never written by this code, but a hand-edited file may have one): the log has
        // no holes, so keep what follows it; consumers before it are told of a replay gap.
        if (entries.length > 0 && value.id !== entries.at(-1)!.id + 1) entries = [];
        entries.push(value);
        lastId = Math.max(lastId, value.id);
      } else {
        skipped++;
      }
    }
    return { entries, lastId, skipped };
  }

  /**
   * Rewrites an existing file with a header and the log's live entries: done once at start, so
   * a torn last line is gone before anything is appended after it. No file is created here: a
   * server that never publishes leaves no trace.
   */
  async start(): Promise<void> {
    try {
      await stat(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await this.#enqueueTask(() => this.#compact());
  }

  /**
   * Writes the event, syncs it, adds it to the log and resolves with its entry. `syncDir` also
   * syncs the directory, for a file renamed into it just before (an image stored with the event).
   */
  append(event: T, options: { syncDir?: boolean } = {}): Promise<LogEntry<T>> {
    if (this.#closed) return Promise.reject(new Error('the event journal is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, syncDir: options.syncDir ?? false, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  /** Waits for every queued append to be written, then closes the file. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#writing) await this.#writing;
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
  }

  async #enqueueTask(task: () => Promise<void>): Promise<void> {
    while (this.#writing) await this.#writing;
    this.#writing = task();
    try {
      await this.#writing;
    } finally {
      // Appends that arrived meanwhile waited for this task; now they go.
      this.#writing = this.#queue.length > 0 ? this.#drain() : undefined;
    }
  }

  /** Writes queued appends, a batch at a time, until the queue is empty. */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0);
        const first = this.#log.lastId + 1;
        const entries = batch.map((p, i) => ({ ...this.#log.entry(p.event), id: first + i }));
        try {
          await this.#write(entries, batch.some((p) => p.syncDir));
        } catch (error) {
          for (const p of batch) p.reject(error);
          continue;
        }
        for (const [i, p] of batch.entries()) {
          // One at a time: a consumer's listener that throws must not leave the others waiting forever.
          try {
            p.resolve(this.#log.add(entries[i]!));
          } catch (error) {
            p.reject(error);
          }
        }
        if (this.#lines > this.#log.size + this.#slack) {
          // Past this point the entries are in the log: a failed compaction leaves the file long, not wrong.
          await this.#compact().catch(this.#onCompactError);
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  async #write(entries: LogEntry<T>[], syncDir: boolean): Promise<void> {
    const data = Buffer.from(entries.map((e) => JSON.stringify(e) + '\n').join(''));
    if (this.#damaged) {
      await this.#compact();
      this.#damaged = false;
    }
    const file = this.#file ?? (await this.#reopen());
    try {
      await file.appendFile(data);
      // The two syncs are independent; both must be done before anyone hears of the batch.
      await Promise.all([file.datasync(), syncDir && syncDirectory(this.#dir)]);
    } catch (error) {
      // The batch may be partly in the file: a later line must not start in the middle of it,
      // and its events were never acknowledged. The next write rewrites the file from the log.
      this.#damaged = true;
      throw error;
    }
    this.#lines += entries.length;
  }

  /** Replaces the file by a header and the live entries: temp file, sync, rename, sync the directory. */
  async #compact(): Promise<void> {
    const live = [...this.#log.newest()].reverse();
    const header: Header = { lastId: this.#log.lastId };
    const data = Buffer.from([header, ...live].map((v) => JSON.stringify(v) + '\n').join(''));
    await mkdir(this.#dir, { recursive: true });
    const part = `${this.path}.part`;
    const temp = await open(part, 'w');
    try {
      await temp.writeFile(data);
      await temp.sync();
    } finally {
      await temp.close();
    }
    await rename(part, this.path);
    await syncDirectory(this.#dir);
    await this.#file?.close().catch(() => {});
    this.#file = undefined;
    this.#lines = live.length + 1;
    await this.#reopen();
  }

  async #reopen(): Promise<FileHandle> {
    await mkdir(this.#dir, { recursive: true });
    this.#file = await open(this.path, 'a');
    // A new file: its name must be durable before the first entry is acknowledged.
    if ((await this.#file.stat()).size === 0) await syncDirectory(this.#dir);
    return this.#file;
  }
}

function isHeader(value: unknown): value is Header {
  return typeof value === 'object' && value !== null && !('event' in value) && Number.isSafeInteger((value as Header).lastId);
}

function isEntry<T>(value: unknown): value is LogEntry<T> {
  if (typeof value !== 'object' || value === null) return false;
  const { id, at, event } = value as LogEntry<T>;
  return Number.isSafeInteger(id) && id > 0 && typeof at === 'number' && typeof event === 'object' && event !== null;
}
