import { readFileSync } from 'node:fs';
import { descendants } from '../src/sessions/process-tree.js';

/**
 * CPU of a Chromium process tree by process type (`--type=` on each command line: none is the
 * browser process), read from /proc. Linux only. For the session benchmarks: which of
 * Chromium's processes a screencast costs.
 */

export type ChromiumProcessType = 'browser' | 'gpu' | 'renderer' | 'other';
export const CHROMIUM_PROCESS_TYPES: readonly ChromiumProcessType[] = ['browser', 'gpu', 'renderer', 'other'];

export type CpuTicks = Record<ChromiumProcessType, number>;

/** One reading: each Chromium process's type and utime+stime ticks, by pid. */
export type TickReading = Map<number, { type: ChromiumProcessType; ticks: number }>;

const CLK_TCK = 100; // USER_HZ on Linux

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

/** utime+stime of every Chromium process below `root` (framehub's node process, or the bench's own). */
export function chromiumTicks(root: number): TickReading {
  const reading: TickReading = new Map();
  for (const pid of descendants(root)) {
    try {
      const type = typeOf(pid);
      if (!type) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      reading.set(pid, { type, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return reading;
}

/**
 * CPU seconds by type between two readings: of the processes in both (one that started in
 * between counts from 0; one that exited in between is left out, not counted negative).
 */
export function cpuSeconds(before: TickReading, after: TickReading): CpuTicks {
  const out: CpuTicks = { browser: 0, gpu: 0, renderer: 0, other: 0 };
  for (const [pid, { type, ticks }] of after) out[type] += (ticks - (before.get(pid)?.ticks ?? 0)) / CLK_TCK;
  return out;
}

export function totalOf(ticks: CpuTicks): number {
  return CHROMIUM_PROCESS_TYPES.reduce((sum, type) => sum + ticks[type], 0);
}
