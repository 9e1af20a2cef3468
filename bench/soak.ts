import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseSoakOptions, SOAK_HELP, type SoakOptions } from './soak-options.js';
import { soakRun, type SoakResult } from './soak-run.js';
import { churnRun, type ChurnResult } from './soak-churn.js';
import { connectTimeoutMs } from './soak-server.js';
import { ascending, median } from './percentiles.js';

/**
 * `npm run bench -- --scenario soak|churn` (issue 13, point 7): framehub's RSS, heap,
 * descriptors and per-viewer fps over a long run, and after viewers come and go. bench/fanout.ts
 * hands these two scenarios here with their arguments.
 */
export async function soakCommand(argv: string[]): Promise<void> {
  let options: SoakOptions;
  try {
    const parsed = parseSoakOptions(argv);
    if (parsed === 'help') {
      process.stdout.write(SOAK_HELP);
      return;
    }
    options = parsed;
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${SOAK_HELP}`);
    process.exit(2);
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // Bounds the whole run whatever hangs: every phase, plus connecting, plus a margin.
  const connectSeconds = connectTimeoutMs(options.clients) / 1000;
  const seconds = options.scenario === 'soak'
    ? options.warmup + options.duration + connectSeconds
    : options.rounds * (connectSeconds + 30 + 30 + options.settle);
  const watchdog = setTimeout(() => {
    log(`bench: ${options.scenario} did not finish within ${Math.round(seconds + 120)} s; giving up`);
    process.exit(1);
  }, (seconds + 120) * 1000);
  watchdog.unref();

  const cpu = cpus();
  console.log(`# framehub ${options.scenario} benchmark, ${new Date().toISOString()}`);
  console.log(`machine: ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, shared with other work`);
  console.log(`options: ${JSON.stringify({ ...options, json: undefined })}`);
  if (process.env['MALLOC_ARENA_MAX']) console.log(`MALLOC_ARENA_MAX=${process.env['MALLOC_ARENA_MAX']}`);
  console.log('');
  if (options.scenario === 'soak') {
    const result = await soakRun(options, log);
    for (const line of soakReport(result)) console.log(line);
    if (options.json) writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`);
  } else {
    const result = await churnRun(options, log);
    for (const line of churnReport(result)) console.log(line);
    if (options.json) writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`);
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const pct = (value: number, reference: number) => `${value >= reference ? '+' : ''}${(((value - reference) / reference) * 100).toFixed(1)} %`;

/** The soak as markdown: a sample a minute, the RSS band against the reference, the verdict. */
export function soakReport(r: SoakResult): string[] {
  const { options, reference } = r;
  const measured = r.samples.filter((s) => s.phase === 'measure');
  const rss = measured.map((s) => s.rss);
  const low = Math.min(...rss);
  const high = Math.max(...rss);
  const end = measured.at(-1) ?? reference;
  const within = measured.every((s) => Math.abs(s.rss - reference.rss) <= reference.rss * 0.1);
  const fds = measured.map((s) => s.fds);
  // One sample may sit on a peak or a trough of the GC's sawtooth (tens of MiB, a minute
  // apart under load): the median of the warm-up's last minute and of each measured minute
  // compare the levels rather than the phases.
  const warm = r.samples.filter((s) => s.phase === 'warmup' && s.t > reference.t - 60).map((s) => s.rss);
  const warmMedian = median(ascending(warm));
  const minutes: number[] = [];
  for (let from = 0; from < measured.length; from += Math.max(1, Math.round(60 / options.sampleEvery))) {
    minutes.push(median(ascending(measured.slice(from, from + Math.max(1, Math.round(60 / options.sampleEvery))).map((s) => s.rss))));
  }
  const minutesWithin = minutes.every((v) => Math.abs(v - warmMedian) <= warmMedian * 0.1);
  const every = Math.max(1, Math.round(60 / options.sampleEvery));
  const lines = [
    `## soak: ${options.clients} viewers on WS /stream/bench (?fps=${options.cap}), ${options.warmup} s warm-up + ${options.duration} s, source ${options.fps} fps, JPEG ${options.frameBytes} bytes`,
    '',
    `idle server (no viewer, after GC): RSS ${mib(r.idle.rss)} MiB, heap ${mib(r.idle.heapUsed)} MiB, fds ${r.idle.fds}; viewers connected and each had a frame after ${f1(r.connectSeconds)} s`,
    '',
    '| t s | phase | RSS MiB | RssAnon MiB | heap used / total MiB | external MiB (Buffers) | fds | server CPU % | fps per viewer median / p5 / min | lost | load |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  let previous = r.samples[0];
  r.samples.forEach((s, i) => {
    if (i % every !== every - 1 && s !== reference && s !== end) return;
    const cpu = previous && s !== previous ? ((s.cpu - previous.cpu) / (s.t - previous.t)) * 100 : NaN;
    previous = s;
    lines.push(`| ${s.t.toFixed(0)} | ${s === reference ? 'reference' : s.phase} | ${mib(s.rss)} | ${mib(s.rssAnon)} | ${mib(s.heapUsed)} / ${mib(s.heapTotal)} | ${mib(s.external)} (${mib(s.arrayBuffers)}) | ${s.fds} | ${f1(cpu)} | ${f1(s.fps.median)} / ${f1(s.fps.p5)} / ${f1(s.fps.min)} | ${s.lost} | ${s.load.toFixed(1)} |`);
  });
  const fpsMedians = measured.map((s) => s.fps.median);
  const fpsMins = measured.map((s) => s.fps.min);
  lines.push(
    '',
    `- RSS after warm-up ${mib(reference.rss)} MiB; over the ${options.duration} s: ${mib(low)}–${mib(high)} MiB (${pct(low, reference.rss)} … ${pct(high, reference.rss)}), at the end ${mib(end.rss)} MiB (${pct(end.rss, reference.rss)}): ${within ? 'within' : 'NOT within'} ±10 %`,
    `- RSS median of the warm-up's last minute ${mib(warmMedian)} MiB; median of each measured minute: ${minutes.map(mib).join(', ')} MiB (${pct(Math.min(...minutes), warmMedian)} … ${pct(Math.max(...minutes), warmMedian)}): ${minutesWithin ? 'within' : 'NOT within'} ±10 %`,
    `- after a forced GC: heap used ${mib(r.referenceGc.heapUsed)} → ${mib(r.endGc.heapUsed)} MiB, external ${mib(r.referenceGc.external)} → ${mib(r.endGc.external)} MiB, RSS ${mib(r.referenceGc.rss)} → ${mib(r.endGc.rss)} MiB (after warm-up → end)`,
    `- fds: ${reference.fds} after warm-up, ${Math.min(...fds)}–${Math.max(...fds)} while measured, ${end.fds} at the end`,
    `- fps per viewer, each ${options.sampleEvery} s window: median ${f1(Math.min(...fpsMedians))}–${f1(Math.max(...fpsMedians))}, lowest single viewer ${f1(Math.min(...fpsMins))}; over the whole ${options.duration} s: median ${f1(r.overall.median)}, p5 ${f1(r.overall.p5)}, min ${f1(r.overall.min)} (asked ${options.cap})`,
    `- viewers the server disconnected: ${r.lost}${r.lost > 0 ? ` (${JSON.stringify(r.lostReasons)})` : ''}`,
  );
  return lines;
}

/** The churn as markdown: one row per round, then the verdict against round 1. */
export function churnReport(r: ChurnResult): string[] {
  const { options } = r;
  const lines = [
    `## churn: ${options.rounds} rounds of ${options.clients} viewers on WS /stream/bench (?fps=${options.cap}) connecting, each receiving a frame, leaving (${options.leave}); sampled ${options.settle} s after the last close`,
    '',
    `idle server before round 1 (after GC): RSS ${mib(r.idle.rss)} MiB (anon ${mib(r.idle.rssAnon)}), heap ${mib(r.idle.heapUsed)} / ${mib(r.idle.heapTotal)} MiB, external ${mib(r.idle.external)} MiB, fds ${r.idle.fds}`,
    '',
    '| round | connect s | peak RSS MiB / fds | drain s | settled RSS MiB | RssAnon MiB | heap used / total MiB | external (Buffers) MiB | fds | after GC: RSS MiB / heap used / total / Buffers MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const round of r.rounds) {
    const { peak, settled: s, afterGc: g } = round;
    lines.push(`| ${round.round} | ${f1(round.connectSeconds)} | ${mib(peak.rss)} / ${peak.fds} | ${f1(round.drainSeconds)} | ${mib(s.rss)} | ${mib(s.rssAnon)} | ${mib(s.heapUsed)} / ${mib(s.heapTotal)} | ${mib(s.external)} (${mib(s.arrayBuffers)}) | ${s.fds} | ${mib(g.rss)} / ${mib(g.heapUsed)} / ${mib(g.heapTotal)} / ${mib(g.arrayBuffers)} |`);
  }
  const first = r.rounds[0];
  if (first) {
    const later = r.rounds.slice(1).map((round) => round.settled.rss);
    const within = later.every((v) => Math.abs(v - first.settled.rss) <= first.settled.rss * 0.1);
    const laterGc = r.rounds.slice(1).map((round) => round.afterGc.rss);
    const withinGc = laterGc.every((v) => Math.abs(v - first.afterGc.rss) <= first.afterGc.rss * 0.1);
    const last = r.rounds.at(-1)!;
    lines.push(
      '',
      `- settled RSS after round 1 (the warm-up) ${mib(first.settled.rss)} MiB; rounds 2–${r.rounds.length}: ${later.length ? `${mib(Math.min(...later))}–${mib(Math.max(...later))} MiB (${pct(Math.min(...later), first.settled.rss)} … ${pct(Math.max(...later), first.settled.rss)}): ${within ? 'within' : 'NOT within'} ±10 %` : 'none'}`,
      `- after a forced GC: round 1 ${mib(first.afterGc.rss)} MiB; rounds 2–${r.rounds.length}: ${laterGc.length ? `${mib(Math.min(...laterGc))}–${mib(Math.max(...laterGc))} MiB (${pct(Math.min(...laterGc), first.afterGc.rss)} … ${pct(Math.max(...laterGc), first.afterGc.rss)}): ${withinGc ? 'within' : 'NOT within'} ±10 %` : 'none'}; heap used ${r.rounds.map((round) => mib(round.afterGc.heapUsed)).join(', ')} MiB`,
      `- RSS after round ${last.round} − idle: ${mib(last.settled.rss - r.idle.rss)} MiB (after GC: heap used ${mib(last.afterGc.heapUsed - r.idle.heapUsed)}, heap total ${mib(last.afterGc.heapTotal - r.idle.heapTotal)}, Buffers ${mib(last.afterGc.arrayBuffers - r.idle.arrayBuffers)} MiB; the rest is memory malloc keeps)`,
      `- anonymous memory outside V8's heap after GC (RssAnon − heap total: malloc's arenas, Buffers, native state): ${mib(r.idle.rssAnon - r.idle.heapTotal)} MiB idle, ${r.rounds.map((round) => mib(round.afterGc.rssAnon - round.afterGc.heapTotal)).join(', ')} MiB after each round`,
      `- fds: ${r.idle.fds} idle, ${r.rounds.map((round) => round.settled.fds).join(', ')} after each round`,
      `- viewers the server disconnected: ${r.lost}${r.lost > 0 ? ` (${JSON.stringify(r.lostReasons)})` : ''}`,
    );
  }
  return lines;
}
