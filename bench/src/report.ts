/**
 * Markdown output. bench/README.md keeps its hand-written text; results go between
 * `RESULTS_START` and `RESULTS_END`, one block per scenario between its own markers, so a
 * filtered run replaces only the scenarios it ran and keeps the others.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from './machine.js';
import {
  type ContenderSummary,
  DISTURBANCE,
  formatMs,
  formatRate,
  isDisturbed,
  type ScenarioResult,
} from './runner.js';

export const RESULTS_START = '<!-- bench:results:start -->';
export const RESULTS_END = '<!-- bench:results:end -->';
const blockStart = (id: string) => `<!-- bench:scenario ${id} -->`;
const blockEnd = (id: string) => `<!-- /bench:scenario ${id} -->`;
const BLOCK = /<!-- bench:scenario (\S+) -->[\s\S]*?<!-- \/bench:scenario \1 -->/g;

function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–';
}

function formatDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** The markdown block of one scenario's result. */
export function renderScenario(result: ScenarioResult, machine: Machine, rounds: number): string {
  const lines: string[] = [blockStart(result.id), `### ${result.title}`, '', result.description, ''];
  const run = `${formatDate(result.startedAt)} · commit ${machine.commit} · ${machine.cpu}, ${machine.cores} cores · Node ${machine.node} · ${machine.os} · ${machine.pinning} · load average ${result.loadAverage.toFixed(2)} at start`;
  if (result.skipped !== undefined) {
    lines.push(`_Skipped (${run}): ${result.skipped}_`, blockEnd(result.id));
    return lines.join('\n');
  }
  const latency = result.latency === 'wait' ? 'wait for the lock' : 'whole operation';
  lines.push(
    `Load: ${result.loadText}. ${rounds} rounds after a warm-up, contender order rotated each round; medians of the rounds. Latency: ${latency}.${result.quick ? ' **Quick run** (shorter rounds): indicative only.' : ''}`,
    '',
    `Run: ${run}.`,
    '',
  );
  const withServer = result.summary.some((s) => s.serverCpuUsPerOp !== undefined);
  const withFairness = result.summary.some((s) => s.fairness !== undefined);
  const lat = result.latency === 'wait' ? 'wait ' : '';
  const header = [
    'contender',
    'role',
    'ops/s',
    `${lat}p50`,
    `${lat}p99`,
    `${lat}max`,
    'CPU µs/op',
    ...(withServer ? ['server CPU µs/op'] : []),
    'GC',
    ...(withFairness ? ['fairness'] : []),
    'failures',
    '× floor',
    '× leasekit',
  ];
  lines.push(`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? ' --- ' : ' --: ')).join('|')}|`);
  for (const s of result.summary) lines.push(renderRow(s, withServer, withFairness));
  lines.push(
    '',
    'Medians of the rounds, except `max` (the slowest of all rounds) and `failures` (total). `GC`: share of wall time in garbage-collection pauses. `fairness`: operations of the worker that completed fewest over the mean per worker, lowest of the rounds (1: even shares; 0: a worker starved). `× floor` and `× leasekit`: ops/s relative to that contender, median of the per-round ratios.',
    '',
  );
  if (result.reruns > 0 || result.disturbed > 0) {
    const kept =
      result.disturbed > 0
        ? `; ${result.disturbed} still disturbed when the re-runs ran out, kept and marked below: read them with care (CPU µs/op suffers least)`
        : '';
    lines.push(
      `**Interference**: ${result.reruns} round(s) measured again because other processes took over ${DISTURBANCE * 100}% of the client core while the bench waited for it${kept}.`,
      '',
    );
  }
  for (const s of result.summary) {
    if (s.note) lines.push(`- **${s.name}**: ${s.note}`);
    for (const error of s.errors) lines.push(`  - failure: \`${error}\``);
  }
  lines.push('', '<details><summary>Every round: ops/s (p99)</summary>', '');
  const names = result.summary.map((s) => s.name);
  lines.push(
    `| round | order | ${names.map(escapeCell).join(' | ')} |`,
    `| --: | --- |${names.map(() => ' --: ').join('|')}|`,
  );
  result.rounds.forEach((round, i) => {
    const cells = names.map((name) => {
      const m = round.find((r) => r.contender === name);
      if (!m) return '–';
      const tail = result.latency === 'wait' && m.wait ? m.wait.p99 : m.op.p99;
      const mark = isDisturbed(m) ? `, disturbed: others ${((m.otherCpu ?? 0) * 100).toFixed(0)}%` : '';
      return `${formatRate(m.opsPerSec)} (${formatMs(tail)}${mark})`;
    });
    const order = round.map((m) => names.indexOf(m.contender) + 1).join(' → ');
    lines.push(`| ${i + 1} | ${order} | ${cells.join(' | ')} |`);
  });
  lines.push('', '</details>', blockEnd(result.id));
  return lines.join('\n');
}

function renderRow(s: ContenderSummary, withServer: boolean, withFairness: boolean): string {
  const cells = [
    escapeCell(s.name),
    s.role,
    formatRate(s.opsPerSec),
    formatMs(s.p50Ms),
    formatMs(s.p99Ms),
    formatMs(s.maxMs),
    s.cpuUsPerOp.toFixed(2),
    ...(withServer ? [s.serverCpuUsPerOp === undefined ? '–' : s.serverCpuUsPerOp.toFixed(2)] : []),
    `${(s.gcShare * 100).toFixed(0)}%`,
    ...(withFairness ? [s.fairness === undefined ? '–' : s.fairness.toFixed(2)] : []),
    s.failures === 0 ? '0' : `**${s.failures}** of ${s.ops}`,
    s.role === 'floor' ? '1.00×' : formatRatio(s.vsFloor),
    formatRatio(s.vsLeasekit),
  ];
  return `| ${cells.join(' | ')} |`;
}

/**
 * Merges scenario blocks into the results region of `readme`: blocks of scenarios that ran
 * replace their old versions; blocks of scenarios that did not run stay. A skipped scenario
 * does not replace an earlier result. Blocks are ordered as `order` (the registry), unknown
 * ids last.
 */
export function mergeResults(
  readme: string,
  blocks: ReadonlyMap<string, { markdown: string; skipped: boolean }>,
  order: readonly string[],
): string {
  let start = readme.indexOf(RESULTS_START);
  let end = readme.indexOf(RESULTS_END);
  if (start === -1 || end === -1 || end < start) {
    readme = `${readme.trimEnd()}\n\n## Results\n\n${RESULTS_START}\n${RESULTS_END}\n`;
    start = readme.indexOf(RESULTS_START);
    end = readme.indexOf(RESULTS_END);
  }
  const region = readme.slice(start + RESULTS_START.length, end);
  const merged = new Map<string, string>();
  for (const match of region.matchAll(BLOCK)) merged.set(match[1]!, match[0]);
  for (const [id, block] of blocks) {
    if (block.skipped && merged.has(id)) continue;
    merged.set(id, block.markdown);
  }
  const ids = [...merged.keys()].sort((a, b) => rank(order, a) - rank(order, b));
  const body = ids.map((id) => merged.get(id)!).join('\n\n');
  return `${readme.slice(0, start)}${RESULTS_START}\n<!-- Written by \`pnpm bench\`: edits between these markers are lost on the next run. -->\n\n${body}\n\n${readme.slice(end)}`;
}

function rank(order: readonly string[], id: string): number {
  const i = order.indexOf(id);
  return i === -1 ? Number.MAX_SAFE_INTEGER : i;
}

export function updateReadme(
  path: string,
  results: readonly ScenarioResult[],
  machine: Machine,
  rounds: number,
  order: readonly string[],
): void {
  let readme = '';
  try {
    readme = readFileSync(path, 'utf8');
  } catch {
    readme = '# @leasekit/bench\n';
  }
  const blocks = new Map(
    results.map(
      (r) =>
        [r.id, { markdown: renderScenario(r, machine, rounds), skipped: r.skipped !== undefined }] as const,
    ),
  );
  writeFileSync(path, mergeResults(readme, blocks, order));
}
