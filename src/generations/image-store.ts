import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageFormat } from '../image/sniff.js';
import type { StoredImage } from './generation-event.js';
import { syncDirectory } from '../util/sync-directory.js';

export interface ImageStoreOptions {
  /** Created on the first save, so a server that never stores an image leaves no trace. */
  dir: string;
  /** Images older than this are deleted (0 = kept forever). */
  retentionMs: number;
  /** At most this many images are kept; the oldest go first. @default 10000 */
  maxImages?: number;
  /** URL path the files are served under. @default '/images/' */
  urlPrefix?: string;
  /**
   * The directory is shared by the nodes of a cluster (docs/cluster.md): names are claimed with
   * `link()`, which fails when another node took the name, instead of `rename()`, which would
   * replace its image; temp files carry a random part and only old ones are cleaned up at start
   * (a young one is another node's write under way); the directory is synced by the store,
   * since no journal write follows. @default false
   */
  shared?: boolean;
  now?: () => number;
}

/** A stored image plus the id of the event that announced it (for id continuity across restarts). */
interface IndexEntry extends StoredImage {
  eventId?: number;
}

const EXTENSIONS: Record<ImageFormat, string> = { png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif' };
const SIDE = '.json';
/** An image being written; renamed to its name once its bytes are synced. */
const PART = '.part';
/** In a shared directory, a temp file older than this is a dead node's, not a write under way. */
const STALE_PART_MS = 3_600_000;

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
  readonly #shared: boolean;
  readonly #index = new Map<string, IndexEntry>();
  /** Names being written: taken, but not listed or served until the file is complete. */
  readonly #writing = new Set<string>();
  #made = false;

  constructor(options: ImageStoreOptions) {
    this.dir = options.dir;
    this.urlPrefix = options.urlPrefix ?? '/images/';
    this.#retentionMs = options.retentionMs;
    this.#maxImages = options.maxImages ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#shared = options.shared ?? false;
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
      // Left by a crash mid-write: never acknowledged, never announced.
      if (name.endsWith(PART) && (await this.#stalePart(name))) await rm(join(this.dir, name), { force: true });
      if (!name.endsWith(SIDE)) continue;
      try {
        const entry = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as IndexEntry;
        if (typeof entry.name === 'string' && names.includes(entry.name)) entries.push({ ...entry, url: this.urlPrefix + entry.name });
      } catch {
        // A half-written sidecar from a crash: the image stays on disk but out of the gallery.
      }
    }
    entries.sort(byAge);
    for (const entry of entries) this.#index.set(entry.name, entry);
    this.#made = entries.length > 0;
    await this.prune();
    return entries.reduce((max, e) => Math.max(max, e.eventId ?? 0), 0);
  }

  async #stalePart(name: string): Promise<boolean> {
    if (!this.#shared) return true;
    try {
      return (await stat(join(this.dir, name))).mtimeMs < this.#now() - STALE_PART_MS;
    } catch {
      return false; // renamed or removed by its node meanwhile
    }
  }

  /**
   * Writes the image durably under its name: bytes to a temp file, fsync, rename. The rename
   * itself becomes durable with the directory sync of the event journal's write that announces
   * the image (in a shared directory: `link()`, and the store syncs the directory itself). The sidecar follows with `recordEvent` once the event has its id; until then
   * (and after a crash before it) the journal's entry is the image's record, see `adopt`.
   */
  async save(bytes: Buffer, format: ImageFormat, meta: Omit<StoredImage, 'name' | 'url' | 'size' | 'createdAt'>): Promise<StoredImage> {
    if (!this.#made) {
      await mkdir(this.dir, { recursive: true });
      this.#made = true;
    }
    const base = `${meta.jobId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)}-${meta.imageIdx}`;
    let name = `${base}.${EXTENSIONS[format]}`;
    for (let n = 2; this.#index.has(name) || this.#writing.has(name); n++) name = `${base}-${n}.${EXTENSIONS[format]}`;
    // Reserve the name before the first await so two concurrent saves cannot pick the same one.
    this.#writing.add(name);
    const partPath = join(this.dir, this.#shared ? `${name}.${randomBytes(4).toString('hex')}${PART}` : name + PART);
    try {
      const part = await open(partPath, 'w');
      try {
        await part.writeFile(bytes);
        await part.sync();
      } finally {
        await part.close();
      }
      if (this.#shared) name = await this.#claim(partPath, name, base, EXTENSIONS[format]);
      else await rename(partPath, join(this.dir, name));
    } catch (error) {
      await rm(partPath, { force: true }).catch(() => {});
      throw error;
    } finally {
      this.#writing.delete(name);
    }
    const image: IndexEntry = { ...meta, name, url: this.urlPrefix + name, size: bytes.length, createdAt: this.#now() };
    this.#index.set(name, image);
    return image;
  }

  /**
   * Gives the synced temp file its name in a shared directory: `link()` fails with EEXIST when
   * another node holds the name (this node's index does not know every name yet), so the next
   * free one is tried. The directory is synced before the event can announce the name.
   */
  async #claim(partPath: string, name: string, base: string, extension: string): Promise<string> {
    let claimed = name;
    let n = 1;
    for (;;) {
      try {
        await link(partPath, join(this.dir, claimed));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n > 1000) throw error;
      }
      do claimed = `${base}-${++n}.${extension}`; while (this.#index.has(claimed) || this.#writing.has(claimed));
    }
    try {
      await rm(partPath, { force: true });
      await syncDirectory(this.dir);
    } catch (error) {
      // Not durable, so never announced: the name goes back.
      await rm(join(this.dir, claimed), { force: true }).catch(() => {});
      throw error;
    }
    if (claimed !== name) {
      this.#writing.delete(name);
      this.#writing.add(claimed);
    }
    return claimed;
  }

  /**
   * The store's own record of an image announced by a journal entry read back after a restart.
   * An image whose sidecar was not written yet when the server died is taken into the index
   * (and its sidecar written) if its file is there; `undefined` when the file is gone.
   */
  async adopt(image: StoredImage, eventId: number, options: { record?: boolean } = {}): Promise<StoredImage | undefined> {
    const known = this.#index.get(image.name);
    if (known) return known;
    if (image.name.includes('/') || image.name.startsWith('.')) return undefined;
    try {
      await stat(join(this.dir, image.name));
    } catch {
      return undefined;
    }
    const entry: IndexEntry = { ...image, url: this.urlPrefix + image.name, eventId };
    const newest = [...this.#index.values()].at(-1);
    if (!newest || byAge(newest, entry) <= 0) {
      // The common case in a cluster: images announced by other nodes arrive in event order.
      this.#index.set(entry.name, entry);
    } else {
      // Kept oldest first, as load() sorts it: pruning deletes from the front.
      const all = [...this.#index.values(), entry].sort(byAge);
      this.#index.clear();
      for (const e of all) this.#index.set(e.name, e);
    }
    this.#made = true;
    // In a cluster the node that stored the image writes its sidecar; the others only index it.
    if (options.record ?? true) await writeFile(join(this.dir, image.name + SIDE), JSON.stringify(entry));
    return entry;
  }

  /** Persists the metadata with the event id; failure only costs id continuity after a restart. */
  async recordEvent(image: StoredImage, eventId: number): Promise<void> {
    const entry = this.#index.get(image.name);
    if (!entry) return;
    entry.eventId = eventId;
    await writeFile(join(this.dir, image.name + SIDE), JSON.stringify(entry));
    await this.prune();
  }

  /** Deletes an image that was stored but could not be announced. */
  async remove(image: StoredImage): Promise<void> {
    if (this.#index.get(image.name) !== image) return;
    this.#index.delete(image.name);
    await rm(join(this.dir, image.name), { force: true });
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

function byAge(a: IndexEntry, b: IndexEntry): number {
  return a.createdAt - b.createdAt || (a.eventId ?? 0) - (b.eventId ?? 0);
}
