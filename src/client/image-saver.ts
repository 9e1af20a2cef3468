/**
 * Writes received images to a directory in Node, Bun and Deno; absent in browsers. The file
 * system module is loaded on first save, never at import time, so the client stays isomorphic.
 */

export interface ImageSaver {
  /** Writes `bytes` under a fresh name ending in `.ext`; resolves with the path. */
  save(bytes: Uint8Array, ext: string, at: Date): Promise<string>;
}

interface FileSystem {
  mkdirp(dir: string): Promise<void>;
  /** Creates `path`; rejects with `exists: true` when it already exists (never overwrites). */
  writeNew(path: string, bytes: Uint8Array): Promise<void>;
}

interface DenoLike {
  mkdir(path: string, options: { recursive: boolean }): Promise<void>;
  writeFile(path: string, data: Uint8Array, options: { createNew: boolean }): Promise<void>;
  errors: { AlreadyExists: new (...args: never[]) => Error };
}

/** Whether this runtime can save files (false in browsers and workers). */
export function canSave(): boolean {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: string } } };
  return g.Deno !== undefined || typeof g.process?.versions?.node === 'string';
}

async function loadFileSystem(): Promise<FileSystem> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno) {
    return {
      mkdirp: (dir) => deno.mkdir(dir, { recursive: true }),
      writeNew: async (path, bytes) => {
        try {
          await deno.writeFile(path, bytes, { createNew: true });
        } catch (error) {
          throw error instanceof deno.errors.AlreadyExists ? Object.assign(new Error(`${path} exists`), { exists: true }) : error;
        }
      },
    };
  }
  // Node and Bun. A variable specifier keeps bundlers from resolving a Node built-in for browsers.
  const specifier = 'node:fs/promises';
  const fs = (await import(specifier)) as typeof import('node:fs/promises');
  return {
    mkdirp: async (dir) => { await fs.mkdir(dir, { recursive: true }); },
    writeNew: async (path, bytes) => {
      try {
        await fs.writeFile(path, bytes, { flag: 'wx' });
      } catch (error) {
        throw (error as { code?: string }).code === 'EEXIST' ? Object.assign(new Error(`${path} exists`), { exists: true }) : error;
      }
    },
  };
}

/**
 * A saver for `directory`, or `undefined` where there is no file system. Names are the receive
 * time to the millisecond plus a per-saver sequence number; files are created exclusively and a
 * taken name gets a suffix, so two images in the same millisecond, even from two clients
 * sharing the directory, both survive.
 */
export function createImageSaver(directory: string): ImageSaver | undefined {
  if (!canSave()) return undefined;
  let ready: Promise<FileSystem> | undefined;
  let seq = 0;
  const dir = directory.replace(/[\\/]+$/, '') || '.';
  return {
    async save(bytes, ext, at) {
      ready ??= loadFileSystem().then(async (fs) => { await fs.mkdirp(dir); return fs; });
      let fs: FileSystem;
      try {
        fs = await ready;
      } catch (error) {
        ready = undefined; // the directory may be creatable later
        throw error;
      }
      const base = `${stamp(at)}-${String(++seq).padStart(6, '0')}`;
      for (let n = 0; ; n++) {
        const path = `${dir}/${base}${n === 0 ? '' : `-${n}`}.${ext}`;
        try {
          await fs.writeNew(path, bytes);
          return path;
        } catch (error) {
          if (!(error as { exists?: boolean }).exists || n >= 1000) throw error;
        }
      }
    },
  };
}

/** `20261122-045301-123`: sorts by time, safe on every file system. */
function stamp(at: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}-` +
    `${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}-${p(at.getUTCMilliseconds(), 3)}`;
}
