import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU of a Chromium process tree by process type (`--type=` on each command line: none is the
 * browser process), read from /proc. Linux only. For the session benchmarks: which of
 * Chromium's processes a screencast costs.
 */

export type ChromiumProcessType = 'browser' | 'gpu' | 'renderer' | 'other';
export const CHROMIUM_PROCESS_TYPES: readonly ChromiumProcessType[] = ['browser', 'gpu', 'renderer', 'other'];

export type CpuTicks = Record<ChromiumProcessType, number>;

const CLK_TCK = 100; // USER_HZ on Linux

/** Every process below `root` (not `root` itself), with its parent. */
function below(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  for (let queue = [root]; queue.length > 0;) {
    const next = children.get(queue.pop()!) ?? [];
    out.push(...next);
    queue.push(...next);
  }
  return out;
}

function typeOf(pid: number): ChromiumProcessType | undefined {
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  // Only Chromium's own processes (a zygote's fork joins its arguments with spaces).
  if (!/chrom/i.test(cmdline.split(/[\0 ]/)[0] ?? '')) return undefined;
  const type = /--type=([a-z-]+)/.exec(cmdline)?.[1];
  if (type === undefined) return 'browser';
  if (type === 'gpu-process') return 'gpu';
  if (type === 'renderer') return 'renderer';
  return 'other';
}

/**
 * utime+stime of every Chromium process below `root` (framehub's node process, or the bench's
 * own), summed by type. A process that exited between two readings loses its ticks: compare
 * readings of a tree whose processes live through the window.
 */
export function chromiumTicks(root: number): CpuTicks {
  const ticks: CpuTicks = { browser: 0, gpu: 0, renderer: 0, other: 0 };
  for (const pid of below(root)) {
    try {
      const type = typeOf(pid);
      if (!type) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks[type] += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks;
}

/** CPU seconds by type between two readings. */
export function cpuSeconds(before: CpuTicks, after: CpuTicks): CpuTicks {
  const out: CpuTicks = { browser: 0, gpu: 0, renderer: 0, other: 0 };
  for (const type of CHROMIUM_PROCESS_TYPES) out[type] = (after[type] - before[type]) / CLK_TCK;
  return out;
}

export function totalOf(ticks: CpuTicks): number {
  return CHROMIUM_PROCESS_TYPES.reduce((sum, type) => sum + ticks[type], 0);
}
