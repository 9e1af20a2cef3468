import { readdirSync, readFileSync } from 'node:fs';

/**
 * What /proc says about Chromium's processes: which are below the browser, which of them are
 * renderers, their state and resident memory. Linux only (where framehub's Chromium runs);
 * elsewhere nothing is found.
 */

/** The processes below `root` (Chromium's zygotes, renderers, GPU and utility processes). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(name));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  for (let queue = [root]; queue.length > 0;) {
    const next = children.get(queue.pop()!) ?? [];
    out.push(...next);
    queue.push(...next);
  }
  return out;
}

/** The one-letter state (`R`, `S`, `T` for stopped, …), or `undefined` when the process is gone. */
export function processState(pid: number): string | undefined {
  return readStat(pid)?.state;
}

/** Whether `pid` is a renderer (a page's process: `--type=renderer` on its command line). */
export function isRenderer(pid: number): boolean {
  try {
    // A zygote's fork rewrites its title: the arguments are then one space-separated string,
    // not NUL-separated ones.
    return /(?:^|[\s\0])--type=renderer(?=[\s\0]|$)/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
  }
}

/** Resident memory of `pid` in bytes (VmRSS: anonymous, file and shared pages), or 0 when gone. */
export function residentBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

function readStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}
