/**
 * Runs a scenario: the checker in its own process, N client processes acquiring through
 * leasekit, a fault played meanwhile; then reads the checker's records and the clients' own, and
 * measures what happened (ScenarioResult). Results are appended to a JSON-lines file so that
 * `./dev test:safety` can print the whole table (and write it into the README).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'vitest';
import type {
  CheckerFault,
  CheckerReport,
  ClientConfig,
  ClientReport,
  LeaseRecord,
  ScenarioResult,
  SectionRecord,
} from './records.js';
import { formatTable } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));
/** `./dev test:safety --long` sets it: longer runs, and the scenarios that only run there. */
export const LONG = process.env.LEASEKIT_SAFETY_LONG === '1';
/**
 * Which run this is. `bounded`: what CI runs (`./dev test`), TTLs long enough (3 s, Azure 15 s)
 * that load on a shared 2-core machine cannot make a loss signal late, and only the safety claims
 * asserted. `long`: `./dev test:safety --long`, every scenario (short TTLs, liveness, faults
 * outside the assumptions), asserting what issue 19 demands.
 */
export type Mode = 'bounded' | 'long';
export const MODE: Mode = LONG ? 'long' : 'bounded';
export const BOUNDED: readonly Mode[] = ['bounded', 'long'];
export const LONG_ONLY: readonly Mode[] = ['long'];

/**
 * Registers a scenario's test only in the runs it belongs to: the test list is built per mode,
 * so CI lists what it runs and nothing as skipped.
 */
export function scenarioIt(modes: readonly Mode[], name: string, test: () => Promise<void>): void {
  if (modes.includes(MODE)) it(name, test);
}
export const resultsFile = join(
  process.env.LEASEKIT_SAFETY_RESULTS ?? join(tmpdir(), 'leasekit-safety'),
  'results.jsonl',
);
export { formatTable };
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Scales a run length for --long (twice as long: the whole long run stays under 10 minutes). */
export function runLength(ms: number): number {
  return LONG ? ms * 2 : ms;
}

function spawnTs(file: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--no-warnings', join(here, file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function lines(child: ChildProcess): { all: () => string; first: Promise<string> } {
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString('utf8')).slice(-8_000);
  });
  const first = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(out.slice(0, newline));
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code} before answering: ${err}`)));
  });
  first.catch(() => undefined);
  return { all: () => `${out}\n--- stderr ---\n${err}`, first };
}

export interface Checker {
  readonly url: string;
  arm(fault: CheckerFault): Promise<void>;
  report(): Promise<CheckerReport>;
  stop(): void;
}

export async function startChecker(fencing: boolean): Promise<Checker> {
  const child = spawnTs('checker.ts', { SAFETY_FENCING: fencing ? '1' : '0' });
  const { first } = lines(child);
  const { port } = JSON.parse(await first) as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async arm(fault) {
      await fetch(`${url}/fault`, { method: 'POST', body: JSON.stringify(fault) });
    },
    async report() {
      return (await (await fetch(`${url}/report`)).json()) as CheckerReport;
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}

/**
 * Resolves once the checker has accepted `count` writes (so a fault played after it meets a
 * running system, and a scenario's "0 overlaps" is never vacuous), or after `timeoutMs` anyway.
 */
export async function untilWrites(checker: Checker, count: number, timeoutMs = 20_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const report = await checker.report();
    if (report.sections.filter((s) => s.writeOk === true).length >= count) return;
    await sleep(100);
  }
}

/** Resolves once `client` has entered the critical section (its read reached the checker). */
export async function untilEntered(checker: Checker, client: string, timeoutMs = 60_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const report = await checker.report();
    if (report.sections.some((s) => s.client === client && s.readOk)) return;
    await sleep(50);
  }
  throw new Error(`${client} did not enter the critical section within ${timeoutMs} ms`);
}

export interface RunningClient {
  readonly name: string;
  readonly process: ChildProcess;
  readonly done: Promise<ClientReport>;
}

export function startClient(config: ClientConfig): RunningClient {
  const child = spawnTs('client.ts', { SAFETY_CLIENT: JSON.stringify(config) });
  const output = lines(child);
  const done = new Promise<ClientReport>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      const last = output.all().split('\n--- stderr ---\n')[0]?.trim().split('\n').pop();
      if (code === 0 && last?.startsWith('{')) resolve(JSON.parse(last) as ClientReport);
      else reject(new Error(`client ${config.name} exited with ${code ?? signal}:\n${output.all()}`));
    });
  });
  done.catch(() => undefined);
  return { name: config.name, process: child, done };
}

function overlaps(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] < b[1] && b[0] < a[1];
}

function countOverlappingPairs(
  items: ReadonlyArray<{ client: string; span: readonly [number, number] }>,
): number {
  let count = 0;
  for (let i = 0; i < items.length; i += 1) {
    for (let j = i + 1; j < items.length; j += 1) {
      const a = items[i];
      const b = items[j];
      if (a && b && a.client !== b.client && overlaps(a.span, b.span)) count += 1;
    }
  }
  return count;
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export interface Measured {
  readonly result: ScenarioResult;
  readonly checker: CheckerReport;
  readonly clients: readonly ClientReport[];
  readonly leases: readonly LeaseRecord[];
}

export function measure(
  meta: Pick<ScenarioResult, 'backend' | 'scenario' | 'inside' | 'fencing' | 'ttlMs' | 'durationMs'>,
  checker: CheckerReport,
  clients: readonly ClientReport[],
): Measured {
  const end = checker.now;
  const sections = checker.sections;
  const spanOf = (s: SectionRecord): [number, number] => [s.readAt, s.exitAt ?? s.writeAt ?? end];
  const accepted = sections.filter((s) => s.writeOk === true);
  const leases = clients.flatMap((c) => c.leases);
  const failures = clients.flatMap((c) => c.failures);
  const lost = leases.filter((l) => l.lossAt !== undefined);
  const failureCodes: Record<string, number> = {};
  for (const failure of failures) failureCodes[failure.code] = (failureCodes[failure.code] ?? 0) + 1;
  const result: ScenarioResult = {
    ...meta,
    sections: sections.length,
    acceptedWrites: accepted.length,
    overlappingSections: countOverlappingPairs(sections.map((s) => ({ client: s.client, span: spanOf(s) }))),
    overlappingWrites: countOverlappingPairs(
      accepted.map((s) => ({ client: s.client, span: [s.readAt, s.writeAt ?? end] as const })),
    ),
    lostUpdates: accepted.filter((s) => s.written !== (s.counterBefore ?? 0) + 1).length,
    refusedByFence: sections.filter((s) => !s.readOk || s.writeOk === false).length,
    losses: lost.length,
    lossesBeforeWrite: lost.filter((l) => !l.wrote || (l.lossAt ?? 0) < (l.writeSentAt ?? 0)).length,
    lossesLate: lost.filter((l) => (l.lossAt ?? 0) > l.deadlineAt && !l.stalledAcrossDeadline).length,
    acquireP50Ms: Math.round(
      percentile(
        leases.map((l) => l.acquireMs),
        50,
      ),
    ),
    acquireP99Ms: Math.round(
      percentile(
        leases.map((l) => l.acquireMs),
        99,
      ),
    ),
    availability: leases.length / Math.max(1, leases.length + failures.length),
    failureCodes,
  };
  for (const late of lost.filter((l) => (l.lossAt ?? 0) > l.deadlineAt && !l.stalledAcrossDeadline)) {
    console.warn(
      `[safety] ${meta.backend} / ${meta.scenario}: ${late.section} lost (${late.lossReason}) ${((late.lossAt ?? 0) - late.deadlineAt).toFixed(1)} ms after its local deadline`,
    );
  }
  return { result, checker, clients, leases };
}

export function recordResult(result: ScenarioResult): void {
  mkdirSync(dirname(resultsFile), { recursive: true });
  appendFileSync(resultsFile, `${JSON.stringify(result)}\n`);
  console.log(formatTable([result]));
}

export interface ScenarioOptions {
  readonly backend: string;
  readonly scenario: string;
  readonly inside: boolean;
  readonly fencing: boolean;
  readonly clients: number;
  /** Builds client i's configuration (without name, checker, fencing). */
  readonly client: (index: number) => Omit<ClientConfig, 'name' | 'checkerUrl' | 'fencing'>;
  /** Played while the clients run. */
  readonly fault?: (context: { checker: Checker; clients: readonly RunningClient[] }) => Promise<void>;
}

export async function runScenario(options: ScenarioOptions): Promise<Measured> {
  const startedAt = performance.now();
  const checker = await startChecker(options.fencing);
  const clients: RunningClient[] = [];
  try {
    for (let index = 0; index < options.clients; index += 1) {
      clients.push(
        startClient({
          ...options.client(index),
          name: `c${index}`,
          checkerUrl: checker.url,
          fencing: options.fencing,
        }),
      );
    }
    const [reports] = await Promise.all([
      Promise.all(clients.map((c) => c.done)),
      options.fault?.({ checker, clients }),
    ]);
    const measured = measure(
      {
        backend: options.backend,
        scenario: options.scenario,
        inside: options.inside,
        fencing: options.fencing,
        ttlMs: options.client(0).ttlMs,
        durationMs: Math.round(performance.now() - startedAt),
      },
      await checker.report(),
      reports,
    );
    recordResult(measured.result);
    return measured;
  } finally {
    for (const client of clients) if (client.process.exitCode === null) client.process.kill('SIGKILL');
    checker.stop();
  }
}
