/** The table of scenarios × backends, in Markdown (also run by report.ts under Node's type stripping). */
import type { ScenarioResult } from './records.js';

const COLUMNS: ReadonlyArray<[string, (r: ScenarioResult) => string]> = [
  ['backend', (r) => r.backend],
  ['scenario', (r) => r.scenario],
  ['assumptions', (r) => (r.inside ? 'inside' : 'outside')],
  ['fencing', (r) => (r.fencing ? 'on' : 'off')],
  ['TTL', (r) => `${r.ttlMs / 1000} s`],
  ['sections', (r) => String(r.sections)],
  ['writes ok', (r) => String(r.acceptedWrites)],
  ['overlapping sections', (r) => String(r.overlappingSections)],
  ['overlapping writes', (r) => String(r.overlappingWrites)],
  ['lost updates', (r) => String(r.lostUpdates)],
  ['refused by fence', (r) => String(r.refusedByFence)],
  ['losses (before write / late)', (r) => `${r.losses} (${r.lossesBeforeWrite} / ${r.lossesLate})`],
  ['acquire p50 / p99 ms', (r) => `${r.acquireP50Ms} / ${r.acquireP99Ms}`],
  ['availability', (r) => `${(r.availability * 100).toFixed(1)}%`],
  [
    'acquire failures',
    (r) =>
      Object.entries(r.failureCodes)
        .map(([code, n]) => `${code}×${n}`)
        .join(', ') || '—',
  ],
];

/** A Markdown table of results. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const header = `| ${COLUMNS.map(([name]) => name).join(' | ')} |`;
  const rule = `| ${COLUMNS.map(() => '---').join(' | ')} |`;
  const rows = results.map((r) => `| ${COLUMNS.map(([, cell]) => cell(r)).join(' | ')} |`);
  return [header, rule, ...rows].join('\n');
}
