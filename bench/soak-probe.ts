import { readdirSync, readFileSync } from 'node:fs';

/** What the kernel says about a process: descriptors and memory, read from /proc, no help from the process. */
export interface ProcessProbe {
  /** Open file descriptors (`/proc/<pid>/fd` entries): sockets, pipes, files. */
  fds: number;
  /** Resident memory, bytes (VmRSS = RssAnon + RssFile + RssShmem). */
  rss: number;
  /** Anonymous resident memory, bytes: V8's heap, malloc's arenas, Buffers. What a leak grows. */
  rssAnon: number;
  /** File-backed resident memory, bytes: the node binary and shared libraries (sharp's libvips). */
  rssFile: number;
  /** Highest RSS so far, bytes (VmHWM). */
  rssPeak: number;
  threads: number;
}

/** Reads `/proc/<pid>`; throws if the process is gone. */
export function probeProcess(pid: number): ProcessProbe {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return {
    fds: readdirSync(`/proc/${pid}/fd`).length,
    rss: kb('VmRSS'),
    rssAnon: kb('RssAnon'),
    rssFile: kb('RssFile'),
    rssPeak: kb('VmHWM'),
    threads: Number(/^Threads:\s+(\d+)$/m.exec(status)?.[1] ?? NaN),
  };
}
