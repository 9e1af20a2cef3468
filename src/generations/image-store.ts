import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageFormat } from '../image/sniff.js';
import type { StoredImage } from './generation-event.js';

export interface ImageStoreOptions {
  /** Created on the first save, so a server that never stores an image leaves no trace. */
  dir: string;
  /** Images older than this are deleted (0 = kept forever). */
  retentionMs: number;
  /** At most this many images are kept; the oldest go first. @default 10000 */
  maxImages?: number;
  /** URL path the files are served under. @default '/images/' */
  urlPrefix?: string;
  now?: () => number;
}

/** A stored image plus the id of the event that announced it (for id continuity across restarts). */
interface IndexEntry extends StoredImage {
  eventId?: number;
}

const EXTENSIONS: Record<ImageFormat, string> = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif' };
const SIDE = '.json';

/**
 * Generated images on disk, one file each plus a `<file>.json` sidecar holding its metadata,
 * and an in-memory index of them (oldest first) for the gallery and for replays.
 */
export class ImageStore {
  readonly dir: string;
  readonly urlPrefix: string;
  readonly #retentionMs: number;
  readonly #maxImages: number;
  readonly #now: () => number;
  readonly #index = new Map<string, IndexEntry>();
  #made = false;

  constructor(options: ImageStoreOptions) {
    this.dir = options.dir;
    this.urlPrefix = options.urlPrefix ?? '/images/';
    this.#retentionMs = options.retentionMs;
    this.#maxImages = options.maxImages ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Reads the sidecars already on disk; resolves with the newest event id found (0 if none). */
  async load(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    const entries: IndexEntry[] = [];
    for (const name of names) {
      if (!name.endsWith(SIDE)) continue;
      try {
        const entry = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as IndexEntry;
        if (typeof entry.name === 'string' && names.includes(entry.name)) entries.push({ ...entry, url: this.urlPrefix + entry.name });
      } catch {
        // A half-written sidecar from a crash: the image stays on disk but out of the gallery.
      }
    }
    entries.sort((a, b) => a.createdAt - b.createdAt || (a.eventId ?? 0) - (b.eventId ?? 0));
    for (const entry of entries) this.#index.set(entry.name, entry);
    this.#made = entries.length > 0;
    await this.prune();
    return entries.reduce((max, e) => Math.max(max, e.eventId ?? 0), 0);
  }

  /** Writes the image; the sidecar follows with `recordEvent` once the event has its id. */
  async save(bytes: Buffer, format: ImageFormat, meta: Omit<StoredImage, 'name' | 'url' | 'size' | 'createdAt'>): Promise<StoredImage> {
    if (!this.#made) {
      await mkdir(this.dir, { recursive: true });
      this.#made = true;
    }
    const base = `${meta.jobId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)}-${meta.imageIdx}`;
    let name = `${base}.${EXTENSIONS[format]}`;
    for (let n = 2; this.#index.has(name); n++) name = `${base}-${n}.${EXTENSIONS[format]}`;
    const image: IndexEntry = { ...meta, name, url: this.urlPrefix + name, size: bytes.length, createdAt: this.#now() };
    // Reserve the name before the first await so two concurrent saves cannot pick the same one.
    this.#index.set(name, image);
    try {
      await writeFile(join(this.dir, name), bytes);
    } catch (error) {
      this.#index.delete(name);
      throw error;
    }
    return image;
  }

  /** Persists the metadata with the event id; failure only costs id continuity after a restart. */
  async recordEvent(image: StoredImage, eventId: number): Promise<void> {
    const entry = this.#index.get(image.name);
    if (!entry) return;
    entry.eventId = eventId;
    await writeFile(join(this.dir, image.name + SIDE), JSON.stringify(entry));
    await this.prune();
  }

  get(name: string): StoredImage | undefined {
    return this.#index.get(name);
  }

  /** The image's bytes; only names the index knows are read, so no path can escape the directory. */
  read(image: StoredImage): Promise<Buffer> {
    if (this.#index.get(image.name) !== image) return Promise.reject(new Error(`image ${image.name} is no longer stored`));
    return readFile(join(this.dir, image.name));
  }

  /** Newest first. */
  list(limit: number, offset = 0): StoredImage[] {
    const all = [...this.#index.values()];
    return all.reverse().slice(offset, offset + limit);
  }

  get count(): number {
    return this.#index.size;
  }

  /** Deletes images past their retention time and beyond `maxImages`. */
  async prune(): Promise<void> {
    const cutoff = this.#retentionMs > 0 ? this.#now() - this.#retentionMs : -Infinity;
    const doomed: string[] = [];
    let excess = this.#index.size - this.#maxImages;
    for (const [name, image] of this.#index) {
      if (excess > 0 || image.createdAt < cutoff) {
        doomed.push(name);
        excess--;
      } else break;
    }
    for (const name of doomed) this.#index.delete(name);
    await Promise.all(doomed.flatMap((name) => [
      rm(join(this.dir, name), { force: true }),
      rm(join(this.dir, name + SIDE), { force: true }),
    ]));
  }
}
