/**
 * `pnpm bench [--quick] [--filter TEXT] [--rounds N] [--no-pin] [--write|--no-write] [--list]`
 *
 * Runs the registered scenarios (all, or those whose id or title contains a `--filter`), prints
 * every round and the medians, and writes the tables into bench/README.md (full runs; a quick
 * run writes only with `--write`) and the raw rounds to bench/results/ (git-ignored).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine } from './machine.js';
import { reexec } from './pin.js';
import { selectScenarios } from './registry.js';
import { updateReadme } from './report.js';
import { runScenario, type ScenarioResult } from './runner.js';
import { scenarios } from './scenarios/index.js';

const MIN_ROUNDS = 5;
const usage = `usage: pnpm bench [options]
  --quick           shorter rounds (a quarter of the time); does not write the README unless --write
  --filter TEXT     only scenarios whose id or title contains TEXT (repeatable, or comma-separated)
  --rounds N        measured rounds, at least ${MIN_ROUNDS} (default ${MIN_ROUNDS})
  --no-pin          do not pin the bench and servers to separate cores with taskset
                    (runs are serialized either way: a second run waits for the first)
  --write           write bench/README.md even on a quick run
  --no-write        do not write bench/README.md
  --list            list the scenarios and exit`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      filter: { type: 'string', multiple: true, default: [] },
      rounds: { type: 'string', default: String(MIN_ROUNDS) },
      'no-pin': { type: 'boolean', default: false },
      write: { type: 'boolean' },
      'no-write': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      // Internal: run the one scenario with this id in this process and write its result here.
      'scenario-id': { type: 'string' },
      'result-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < MIN_ROUNDS) {
    console.error(`--rounds must be an integer >= ${MIN_ROUNDS}; got ${values.rounds}\n${usage}`);
    return 2;
  }
  const only = values['scenario-id'];
  if (only !== undefined && values['result-file'] !== undefined) {
    const scenario = scenarios.find((s) => s.id === only);
    if (!scenario) throw new Error(`no scenario ${only}`);
    const result = await runScenario(scenario, {
      rounds,
      quick: values.quick,
      log: (line) => console.log(line),
    });
    writeFileSync(values['result-file'], JSON.stringify(result));
    return 0;
  }
  const filters = values.filter.flatMap((f) => f.split(','));
  const selected = selectScenarios(scenarios, filters);
  if (values.list) {
    for (const s of scenarios)
      console.log(`${s.id.padEnd(28)} ${s.title}  [${s.contenders.map((c) => c.name).join(', ')}]`);
    return 0;
  }
  if (selected.length === 0) {
    console.error(
      `no scenario matches ${filters.map((f) => JSON.stringify(f)).join(', ')}; --list shows them`,
    );
    return 2;
  }

  const child = reexec({ pin: !values['no-pin'] });
  if ('exitCode' in child) return child.exitCode;
  for (const note of child.notes) console.log(`(${note})`);

  const machine = describeMachine();
  console.log(
    `leasekit bench · commit ${machine.commit} · ${machine.cpu}, ${machine.cores} cores · Node ${machine.node} · ${machine.pinning}`,
  );
  console.log(`${selected.length} scenario(s), ${rounds} rounds each${values.quick ? ', quick' : ''}`);

  const started = performance.now();
  const results: ScenarioResult[] = [];
  for (const scenario of selected) results.push(runIsolated(scenario.id, rounds, values.quick));
  console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..');
  const resultsDir = join(root, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replaceAll(':', '-').slice(0, 19);
  const rawPath = join(resultsDir, `${stamp}${values.quick ? '-quick' : ''}.json`);
  writeFileSync(rawPath, `${JSON.stringify({ machine, rounds, quick: values.quick, results }, null, 2)}\n`);
  console.log(`raw rounds: ${rawPath}`);

  const write = values['no-write'] ? false : (values.write ?? !values.quick);
  if (write) {
    const readme = join(root, 'README.md');
    updateReadme(
      readme,
      results,
      machine,
      rounds,
      scenarios.map((s) => s.id),
    );
    console.log(`tables written to ${readme}`);
  } else {
    console.log('README not written (quick run: add --write to write it)');
  }
  const failed = results.some((r) => r.summary.some((s) => s.failures > 0));
  if (failed) console.log('note: some contenders had failures (see the failures column)');
  return 0;
}

/**
 * Runs one scenario in a fresh Node process (pinned like this one, under the same bench lock):
 * the JIT feedback and heap that earlier scenarios left (another backend through the same
 * core, other libraries) must not weigh on its numbers.
 */
function runIsolated(id: string, rounds: number, quick: boolean): ScenarioResult {
  const dir = mkdtempSync(join(tmpdir(), 'leasekit-bench-'));
  const resultFile = join(dir, 'result.json');
  try {
    const args = [...process.execArgv, process.argv[1]!, '--scenario-id', id, '--result-file', resultFile];
    args.push('--rounds', String(rounds));
    if (quick) args.push('--quick');
    const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`scenario ${id} exited with ${run.status ?? run.signal}`);
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as ScenarioResult & { startedAt: string };
    return { ...result, startedAt: new Date(result.startedAt) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
