import type { Oracle } from './oracle.js';

export interface RunFigures {
  seed: number;
  messages: number;
  seconds: number;
  violations: number;
  viewerFps: number;
  viewerKept: number;
  rssBefore: number;
  rssAfter: number;
  serverErrorLines: number;
  notes: string[];
}

const MiB = 1024 * 1024;

/** The summary: messages per route and kind with the answers seen, then violations with reproducers, then the checks. */
export function formatReport(oracle: Oracle, figures: RunFigures): string {
  const lines: string[] = [];
  const rows = oracle.rows();
  const header = ['route', 'kind', 'msgs', 'viol', 'answers'];
  const table = rows.map((row) => [
    row.target, row.kind.slice(0, 40), String(row.messages), String(row.violations),
    [...row.answers.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([label, n]) => `${label}×${n}`).join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  lines.push(fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...table.map(fmt), '');
  lines.push(...violationLines(oracle, figures));
  lines.push('Checks:');
  for (const check of oracle.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  for (const note of figures.notes) lines.push(`  note ${note}`);
  lines.push('');
  lines.push(`seed ${figures.seed}: ${figures.messages} messages in ${figures.seconds.toFixed(1)} s (${Math.round(figures.messages / figures.seconds)}/s), `
    + `${figures.violations} violations; viewer ${figures.viewerFps.toFixed(2)} fps (${(figures.viewerKept * 100).toFixed(1)} % kept); `
    + `server RSS ${(figures.rssBefore / MiB).toFixed(1)} → ${(figures.rssAfter / MiB).toFixed(1)} MiB; server error log lines ${figures.serverErrorLines}`);
  lines.push(oracle.passed ? 'PASS' : 'FAIL');
  return lines.join('\n');
}

/**
 * What failed, alone: the violations with their reproducers and the failed checks. A test's
 * assertion message leads with this, so a CI log cut to its first lines still names the failure.
 */
export function formatFailures(oracle: Oracle, figures: RunFigures): string {
  const failed = oracle.checks.filter((check) => !check.ok).map((check) => `FAIL ${check.name}: ${check.detail}`);
  return [...violationLines(oracle, figures), ...failed].join('\n');
}

function violationLines(oracle: Oracle, figures: RunFigures): string[] {
  const lines: string[] = [];
  if (oracle.violations.length > 0) {
    lines.push(`Violations (${oracle.violationCount}${oracle.violationCount > oracle.violations.length ? `, first ${oracle.violations.length} kept` : ''}); replay one with npm run fuzz -- --seed ${figures.seed} --case <case>:`);
    const seen = new Set<string>();
    for (const v of oracle.violations) {
      const key = `${v.target} ${v.kind} ${v.got}`;
      const repeat = seen.has(key);
      seen.add(key);
      if (repeat) continue;
      lines.push(`  ${v.target} [${v.kind}] case ${v.caseIndex} msg ${v.index}: got ${v.got}, expected ${v.expected}${v.where ? ` (${v.where})` : ''}`);
      lines.push(`    bytes (${v.length}): ${v.bytes}`);
    }
    lines.push(`  (${seen.size} distinct route/kind/answer combinations)`, '');
  }
  return lines;
}
