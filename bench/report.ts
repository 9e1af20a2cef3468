import type { FanoutResult } from './fanout-run.js';
import type { StallResult } from './stall-run.js';
import { SERVER_LABEL } from './server-process.js';
import { ascending, mean, median } from './percentiles.js';

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const kib = (bytes: number) => `${f1(bytes / 1024)} KiB`;

/** A markdown table of fan-out runs, ready to paste into docs/benchmarks.md. */
export function fanoutTable(results: FanoutResult[]): string {
  const lines = [
    '| server | clients | fps/client p5 / median (target) | hub latency p50 / p99 / max ms | delivered MB/s | server CPU % | CPU s per GB | server RSS MiB idle / mean / max | client proc CPU % |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    lines.push(`| ${SERVER_LABEL[r.kind]} | ${r.clients} | ${f1(r.fps.p5)} / ${f1(r.fps.median)} (${r.fps.target}) | ${f2(r.latencyMs.p50)} / ${f2(r.latencyMs.p99)} / ${f1(r.latencyMs.max)} | ${f1(r.throughput)} | ${f1(r.server.cpuPercent)} | ${f2(r.server.cpuSecondsPerGB)} | ${f1(r.server.rssIdleMiB)} / ${f1(r.server.rssMeanMiB)} / ${f1(r.server.rssMaxMiB)} | ${f1(r.clientCpuPercent)} |`);
  }
  return lines.join('\n');
}

/** framehub's CPU per delivered GB divided by each baseline's, from the same round. */
export function ratioLines(round: FanoutResult[]): string[] {
  const framehub = round.find((r) => r.kind === 'framehub');
  if (!framehub) return [];
  return round
    .filter((r) => r.kind !== 'framehub')
    .flatMap((r) => [
      `framehub cost ÷ ${SERVER_LABEL[r.kind]} cost = ${f2(framehub.server.cpuSecondsPerGB / r.server.cpuSecondsPerGB)}x (${f2(framehub.server.cpuSecondsPerGB)} vs ${f2(r.server.cpuSecondsPerGB)} CPU s per delivered GB)`,
      ...(framehub.marginal && r.marginal
        ? [`marginal cost (${r.clients} clients − 1) ÷ ${SERVER_LABEL[r.kind]}'s = ${f2(framehub.marginal.cpuSecondsPerGB / r.marginal.cpuSecondsPerGB)}x (${f2(framehub.marginal.cpuSecondsPerGB)} vs ${f2(r.marginal.cpuSecondsPerGB)} CPU s per GB; main thread alone ${f2(framehub.marginal.mainCpuSecondsPerGB)} vs ${f2(r.marginal.mainCpuSecondsPerGB)}, ${f2(framehub.marginal.mainCpuSecondsPerGB / r.marginal.mainCpuSecondsPerGB)}x; with 1 client: ${f1(framehub.marginal.oneClientCpuPercent)} vs ${f1(r.marginal.oneClientCpuPercent)} % CPU, GC ms/s young + full ${f1(framehub.marginal.oneClientGcMsPerSecond.minor)} + ${f1(framehub.marginal.oneClientGcMsPerSecond.major)} vs ${f1(r.marginal.oneClientGcMsPerSecond.minor)} + ${f1(r.marginal.oneClientGcMsPerSecond.major)})`]
        : []),
    ]);
}

/** framehub's marginal cost ÷ the baseline's, when both runs measured it. */
function marginalRatio(framehub: FanoutResult, baseline: FanoutResult): number | undefined {
  return framehub.marginal && baseline.marginal ? framehub.marginal.cpuSecondsPerGB / baseline.marginal.cpuSecondsPerGB : undefined;
}

/**
 * Across rounds: framehub's cost ratio to each baseline and every server's p99, as the median
 * round, the mean and the range. One round's ratio scatters by ±0.1x on this shared machine
 * (docs/benchmarks.md), so the median of several is the figure to quote, not any one round.
 */
export function roundsSummary(rounds: FanoutResult[][]): string[] {
  if (rounds.length < 2) return [];
  const lines: string[] = [];
  const kinds = rounds[0]!.map((r) => r.kind);
  for (const kind of kinds.filter((k) => k !== 'framehub')) {
    const ratios = ascending(rounds.flatMap((round) => {
      const framehub = round.find((r) => r.kind === 'framehub');
      const baseline = round.find((r) => r.kind === kind);
      return framehub && baseline ? [framehub.server.cpuSecondsPerGB / baseline.server.cpuSecondsPerGB] : [];
    }));
    if (ratios.length === 0) continue;
    const within = ratios.filter((x) => x <= 1.1).length;
    lines.push(`framehub cost ÷ ${SERVER_LABEL[kind]} cost: median ${f2(median(ratios))}x, mean ${f2(mean(ratios))}x, ${f2(ratios[0]!)}x–${f2(ratios[ratios.length - 1]!)}x; ${within} of ${ratios.length} rounds ≤ 1.1x`);
    const marginal = ascending(rounds.flatMap((round) => {
      const framehub = round.find((r) => r.kind === 'framehub');
      const baseline = round.find((r) => r.kind === kind);
      const ratio = framehub && baseline ? marginalRatio(framehub, baseline) : undefined;
      return ratio === undefined ? [] : [ratio];
    }));
    if (marginal.length > 0) {
      lines.push(`framehub marginal cost (N − 1 clients) ÷ ${SERVER_LABEL[kind]}'s: median ${f2(median(marginal))}x, mean ${f2(mean(marginal))}x, ${f2(marginal[0]!)}x–${f2(marginal[marginal.length - 1]!)}x (${marginal.map(f2).join(', ')}); ${marginal.filter((x) => x <= 1.1).length} of ${marginal.length} rounds ≤ 1.1x`);
    }
  }
  for (const kind of kinds) {
    const p99 = ascending(rounds.flatMap((round) => round.filter((r) => r.kind === kind).map((r) => r.latencyMs.p99)));
    const within = p99.filter((x) => x <= 5).length;
    lines.push(`${SERVER_LABEL[kind]} hub latency p99: median ${f2(median(p99))} ms, ${f2(p99[0]!)}–${f2(p99[p99.length - 1]!)} ms; ${within} of ${p99.length} rounds ≤ 5 ms`);
  }
  return lines;
}

/** Per server: its fan-out time per frame, how often the client process slept per frame, and its write calls per delivery. */
export function fanoutTimingLine(results: FanoutResult[]): string {
  const one = (r: FanoutResult) => `${r.kind} ${f2(r.fanoutMsPerFrame)} / ${r.clientSleepsPerFrame.toFixed(1)} / ${f2(r.serverWritesPerDelivery)}`;
  return `fan-out ms per frame / client-process sleeps per frame / server write calls per delivered frame: ${results.map(one).join(', ')}`;
}

/** Per server: its CPU split into user and kernel time, CPU with no clients (its fixed cost) and GC time in the window. */
export function overheadLine(results: FanoutResult[]): string {
  const one = (r: FanoutResult) => `${r.kind} ${f1(r.server.userPercent)} + ${f1(r.server.systemPercent)} (main thread ${f1(r.mainCpuPercent)}) / ${f2(r.idleCpuPercent)} / ${f2(r.gcMsPerSecond.minor)} + ${f2(r.gcMsPerSecond.major)}`;
  return `server CPU % user + system (main thread) / idle CPU % / GC ms per s (young + full): ${results.map(one).join(', ')}`;
}

/** How busy the machine was: other people's work competes for the same two cores. */
export function loadLine(results: FanoutResult[]): string {
  return `1-min load average at the end of each window: ${results.map((r) => `${r.kind} ${r.loadAverage.toFixed(1)}`).join(', ')}`;
}

/** framehub's own counters after a run: dropped/skipped frames and encodes (0 = pure pass-through). */
export function hubLine(result: FanoutResult | StallResult): string | undefined {
  const stats = result.serverStats as { framesIn: number; framesOut: number; framesDropped: number; framesSkipped: number; encodes: number; clockTimers?: number } | undefined;
  if (!stats) return undefined;
  const timers = stats.clockTimers === undefined ? '' : `, ${stats.clockTimers} pacing timers (${f2(stats.clockTimers / Math.max(1, stats.framesOut))} per delivery)`;
  return `framehub stream counters: ${stats.framesIn} frames in, ${stats.framesOut} out, ${stats.framesDropped} dropped (client busy), ${stats.framesSkipped} skipped (fps cap), ${stats.encodes} encodes${timers}`;
}

export function stallTable(results: StallResult[]): string {
  const lines = [
    '| server | clients (stalled) | readers fps p5 / median before | readers fps p5 / median / min during stall (% of target at p5) | server RSS MiB before / end / max | RSS growth per stalled client | Buffer memory growth per stalled client (after GC) | one frame |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    lines.push(`| ${SERVER_LABEL[r.kind]} | ${r.clients} (${r.stalled}) | ${f1(r.before.p5)} / ${f1(r.before.median)} | ${f1(r.during.p5)} / ${f1(r.during.median)} / ${f1(r.during.min)} (${f1((r.during.p5 / r.target) * 100)} %) | ${f1(r.rssBeforeMiB)} / ${f1(r.rssEndMiB)} / ${f1(r.rssMaxMiB)} | ${kib(r.rssPerStalled)} | ${kib(r.buffersPerStalled)} | ${kib(r.frameBytes)} |`);
  }
  return lines.join('\n');
}

/** RSS through the stall, one figure every `step` seconds. */
export function rssSeriesLine(result: StallResult, step = 5): string {
  const points = result.rssSeriesMiB.filter((_, i) => i % step === 0).map((v) => v.toFixed(0));
  return `${SERVER_LABEL[result.kind]} RSS MiB every ${step} s during the stall: ${points.join(' ')}; kernel TCP queues at the end: ${f1(result.kernelServerSendMiB)} MiB server send + ${f1(result.kernelClientReceiveMiB)} MiB client receive`;
}
