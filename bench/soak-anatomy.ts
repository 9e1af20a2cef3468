import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSoakOptions, SOAK_HELP } from './soak-options.js';
import { connectTimeoutMs, memorySample, startSoakServer, streamUrl, subscribers } from './soak-server.js';
import { probeProcess } from './soak-probe.js';
import { ViewerSet } from './soak-viewers.js';
import type { ServerProcess } from './server-process.js';

/**
 * One churn round taken apart (docs/reliability.md, "Where the 46–61 MB go"):
 *
 *   node --import tsx bench/soak-anatomy.ts --scenario churn --cap 10 [--rounds 1]
 *
 * After the viewers leave it samples the server settled, after a forced GC, 30 s later (V8's
 * memory reducer), and after glibc's `malloc_trim(0)` called in the server through gdb (needs
 * `gdb` and ptrace rights; skipped without them): what each step gives back is what was
 * garbage, kept V8 pages and freed memory malloc kept.
 */
const MiB = 2 ** 20;
const mib = (n: number) => (n / MiB).toFixed(1);

/** Resident anonymous memory of glibc's main arena (`[heap]`) and of every other anonymous mapping, from smaps. */
function anonymous(pid: number): { mainArena: number; other: number } {
  let name = '';
  const out = { mainArena: 0, other: 0 };
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] ?? '';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    if (name === '[heap]') out.mainArena += Number(rss[1]) * 1024;
    else if (name === '') out.other += Number(rss[1]) * 1024;
  }
  return out;
}

function mallocTrim(pid: number): boolean {
  try {
    execFileSync('gdb', ['-p', String(pid), '-batch', '-ex', 'call (int)malloc_trim(0)'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

async function row(server: ServerProcess, startedAt: number, step: string, gc = false): Promise<void> {
  const s = await memorySample(server, startedAt, gc);
  const a = anonymous(server.pid);
  console.log(`| ${step} | ${mib(s.rss)} | ${mib(s.heapUsed)} / ${mib(s.heapTotal)} | ${mib(s.arrayBuffers)} | ${mib(a.mainArena)} | ${mib(a.other)} |`);
}

const parsed = parseSoakOptions(process.argv.slice(2));
if (parsed === 'help') {
  process.stdout.write(SOAK_HELP);
  process.exit(0);
}
const options = parsed;
const server = await startSoakServer(options);
const viewers = new ViewerSet(streamUrl(server, options));
const startedAt = performance.now();
try {
  console.log(`${options.clients} viewers on /stream at ${options.cap} fps, ${new Date().toISOString()}\n`);
  console.log('| step | RSS MiB | heap used / total MiB | Buffers MiB | main arena `[heap]` MiB | other anonymous MiB |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  await memorySample(server, startedAt, true);
  await row(server, startedAt, 'idle, before any viewer', true);
  for (let round = 1; round <= options.rounds; round++) {
    await viewers.connect(options.clients, options.connectConcurrency, connectTimeoutMs(options.clients));
    await viewers.firstFrames(30_000);
    await row(server, startedAt, `round ${round}: ${options.clients} viewers connected`);
    await viewers.leave(options.leave);
    while ((await subscribers(server)) > 0 || probeProcess(server.pid).fds > 30) await sleep(100);
    await sleep(options.settle * 1000);
    await row(server, startedAt, `${options.settle} s after all left`);
    await row(server, startedAt, 'forced full GC', true);
    await sleep(30_000);
    await row(server, startedAt, '30 s later');
    if (mallocTrim(server.pid)) await row(server, startedAt, '`malloc_trim(0)`');
    else console.log('| `malloc_trim(0)` | (gdb could not attach: skipped) | | | | |');
  }
} finally {
  await viewers.leave('drop');
  await server.stop();
}
process.exit(0);
