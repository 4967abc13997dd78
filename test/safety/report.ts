/**
 * Prints the table of a safety run (the results.jsonl the scenarios appended) and, with
 * --write-readme, writes it into the root README between the safety markers.
 *
 * Run: node test/safety/report.ts <results.jsonl> [--write-readme] [--long]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScenarioResult } from './records.js';
import { formatTable } from './table.ts';

const [file, ...flags] = process.argv.slice(2);
if (!file) {
  console.error('usage: node test/safety/report.ts <results.jsonl> [--write-readme] [--long]');
  process.exit(2);
}
let text = '';
try {
  text = readFileSync(file, 'utf8');
} catch {
  console.error(`test:safety: no results in ${file} (did any scenario run?)`);
  process.exit(1);
}
const order = ['memory', 'redis', 'lock service', 'dynamodb', 'azure'];
const rank = (r: ScenarioResult) => {
  const index = order.findIndex((name) => r.backend.startsWith(name));
  return index < 0 ? order.length : index;
};
const results = text
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as ScenarioResult)
  .sort(
    (a, b) => rank(a) - rank(b) || a.backend.localeCompare(b.backend) || Number(b.inside) - Number(a.inside),
  );
const table = formatTable(results);
console.log(`\n${table}\n`);

if (flags.includes('--write-readme')) {
  const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');
  const begin = '<!-- safety-table:begin -->';
  const end = '<!-- safety-table:end -->';
  const current = readFileSync(readme, 'utf8');
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  if (from < 0 || to < from) {
    console.error(`test:safety: README.md has no ${begin} … ${end} markers`);
    process.exit(1);
  }
  const run = flags.includes('--long') ? '`./dev test:safety --long`' : '`./dev test:safety`';
  const body = `${begin}\n<!-- written by ${run} --write-readme: do not edit by hand -->\n${table}\n`;
  writeFileSync(readme, current.slice(0, from) + body + current.slice(to));
  console.log(`test:safety: README.md Safety table written (${results.length} rows)`);
}
