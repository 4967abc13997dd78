/** Runs scenarios in interleaved rounds and reduces the rounds to medians and paired ratios. */
import { loadavg } from 'node:os';
import { type Measurement, measure } from './measure.js';
import { median, ratio, rotate } from './stats.js';
import {
  type Contender,
  QUICK_SCALE,
  type Role,
  type RunContext,
  type Scenario,
  SkipScenario,
} from './types.js';

/**
 * A round is disturbed when, for some contender, the bench's main thread waited for a CPU more
 * than this share of the time while other processes used more than this share of the client
 * core (waits alone also come from the bench's own GC threads). Disturbed rounds are measured
 * again, up to `MAX_RERUNS` times each and `MAX_RERUNS_PER_SCENARIO` times in all.
 */
export const DISTURBANCE = 0.05;
export const MAX_RERUNS = 2;
/** Bounds the time re-runs add: on a machine that stays busy they would not help anyway. */
export const MAX_RERUNS_PER_SCENARIO = 2;

export function isDisturbed(m: Measurement): boolean {
  return (m.cpuWait ?? 0) > DISTURBANCE && (m.otherCpu ?? 0) > DISTURBANCE;
}

/** The warm-up round runs every contender at this fraction of a round's length: a whole round, so the JIT has optimized every library before it is measured. */
export const WARMUP_SCALE = 1;

export interface RunOptions {
  /** Measured rounds (a warm-up round comes first and is not counted). */
  readonly rounds: number;
  readonly quick: boolean;
  readonly log: (line: string) => void;
}

export interface ContenderSummary {
  readonly name: string;
  readonly role: Role;
  readonly note: string | undefined;
  /** Medians over the rounds. */
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The slowest operation (or wait) of all rounds. */
  readonly maxMs: number;
  readonly cpuUsPerOp: number;
  /** Share of wall time in GC pauses. */
  readonly gcShare: number;
  /** The lowest per-round fairness (throughput mode): see `Measurement.fairness`. */
  readonly fairness: number | undefined;
  readonly serverCpuUsPerOp: number | undefined;
  /** Totals over the rounds. */
  readonly ops: number;
  readonly failures: number;
  readonly errors: readonly string[];
  /** Rounds of this contender that were disturbed and kept anyway. */
  readonly disturbedRounds: number;
  /** Median over rounds of this contender's ops/s divided by the floor's in the same round. */
  readonly vsFloor: number;
  /** Median over rounds of this contender's ops/s divided by leasekit's in the same round. */
  readonly vsLeasekit: number;
}

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly latency: 'op' | 'wait';
  readonly loadText: string;
  readonly startedAt: Date;
  /** 1-minute load average when the scenario started. */
  readonly loadAverage: number;
  readonly quick: boolean;
  /** Why it did not run, when it did not. */
  readonly skipped: string | undefined;
  /** Rounds measured again because other processes disturbed them (see `DISTURBANCE`). */
  readonly reruns: number;
  /** Rounds kept although still disturbed after the re-runs. */
  readonly disturbed: number;
  /** Per measured round, in the order they ran. */
  readonly rounds: readonly (readonly Measurement[])[];
  /** In the scenario's declared contender order. */
  readonly summary: readonly ContenderSummary[];
}

export function describeLoad(scenario: Scenario, scale: number): string {
  const { load } = scenario;
  const parts: string[] = [
    load.mode === 'latency' ? 'one operation at a time' : `${load.workers} concurrent workers`,
  ];
  if (load.durationMs !== undefined) parts.push(`${Math.round(load.durationMs * scale)} ms`);
  if (load.ops !== undefined) parts.push(`${Math.round(load.ops * scale)} ops`);
  if (scenario.holdMs) parts.push(`hold ${scenario.holdMs} ms`);
  return `${parts.join(', ')} per contender per round`;
}

function latencyOf(m: Measurement, which: 'op' | 'wait') {
  return which === 'wait' && m.wait ? m.wait : m.op;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const us = ms * 1000;
  if (us < 10) return `${us.toFixed(2)} µs`;
  if (us < 100) return `${us.toFixed(1)} µs`;
  if (us < 1000) return `${us.toFixed(0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return '–';
  if (perSec >= 100) return Math.round(perSec).toLocaleString('en-US');
  return perSec.toPrecision(3);
}

function roundLine(round: string, m: Measurement, latency: 'op' | 'wait', width: number): string {
  const lat = latencyOf(m, latency);
  const label = latency === 'wait' ? 'wait ' : '';
  const server = m.serverCpuUsPerOp === undefined ? '' : `  server ${m.serverCpuUsPerOp.toFixed(2)} µs/op`;
  return [
    `  ${round.padEnd(8)} ${m.contender.padEnd(width)}`,
    `${formatRate(m.opsPerSec).padStart(11)} ops/s`,
    `${label}p50 ${formatMs(lat.p50).padStart(9)}`,
    `${label}p99 ${formatMs(lat.p99).padStart(9)}`,
    `max ${formatMs(lat.max).padStart(9)}`,
    `cpu ${m.cpuUsPerOp.toFixed(2).padStart(7)} µs/op${server}`,
    `gc ${(m.gcShare * 100).toFixed(0).padStart(2)}%`,
    m.fairness === undefined ? '' : `fair ${m.fairness.toFixed(2)}`,
    `failures ${m.failures}`,
    m.cpuWait === undefined ? '' : `cpu-wait ${(m.cpuWait * 100).toFixed(0)}%`,
    m.otherCpu === undefined
      ? ''
      : `others ${(m.otherCpu * 100).toFixed(0)}%${isDisturbed(m) ? ' (disturbed)' : ''}`,
  ]
    .filter((part) => part !== '')
    .join('  ');
}

function summarizeContender(
  contender: Contender,
  rounds: readonly (readonly Measurement[])[],
  latency: 'op' | 'wait',
  floorName: string | undefined,
  leasekitName: string | undefined,
): ContenderSummary {
  const mine = rounds.map((round) => round.find((m) => m.contender === contender.name)!);
  const pairedRatio = (reference: string | undefined) => {
    if (reference === undefined) return Number.NaN;
    return median(
      rounds.map((round) => {
        const own = round.find((m) => m.contender === contender.name)!;
        const ref = round.find((m) => m.contender === reference)!;
        return ratio(own.opsPerSec, ref.opsPerSec);
      }),
    );
  };
  const server = mine.map((m) => m.serverCpuUsPerOp);
  const errors = new Set<string>();
  for (const m of mine) for (const e of m.errors) if (errors.size < 3) errors.add(e);
  return {
    name: contender.name,
    role: contender.role,
    note: contender.note,
    opsPerSec: median(mine.map((m) => m.opsPerSec)),
    p50Ms: median(mine.map((m) => latencyOf(m, latency).p50)),
    p99Ms: median(mine.map((m) => latencyOf(m, latency).p99)),
    maxMs: Math.max(...mine.map((m) => latencyOf(m, latency).max)),
    cpuUsPerOp: median(mine.map((m) => m.cpuUsPerOp)),
    gcShare: median(mine.map((m) => m.gcShare)),
    fairness: mine.some((m) => m.fairness !== undefined)
      ? Math.min(...mine.map((m) => m.fairness ?? 1))
      : undefined,
    serverCpuUsPerOp: server.every((v) => v !== undefined) ? median(server as number[]) : undefined,
    ops: mine.reduce((sum, m) => sum + m.ops, 0),
    failures: mine.reduce((sum, m) => sum + m.failures, 0),
    errors: [...errors],
    disturbedRounds: mine.filter(isDisturbed).length,
    vsFloor: pairedRatio(floorName),
    vsLeasekit: pairedRatio(leasekitName),
  };
}

/**
 * Runs one scenario: its setup, a warm-up round (every contender once, not counted),
 * then `rounds` measured rounds, each with the contender order rotated by one, then its teardown.
 */
export async function runScenario(scenario: Scenario, options: RunOptions): Promise<ScenarioResult> {
  const { log } = options;
  const scale = options.quick ? QUICK_SCALE : 1;
  const latency = scenario.latency ?? 'op';
  const startedAt = new Date();
  const context: RunContext = { quick: options.quick, log: (message) => log(`  ${message}`) };
  const base = {
    id: scenario.id,
    title: scenario.title,
    description: scenario.description,
    latency,
    loadText: describeLoad(scenario, scale),
    startedAt,
    loadAverage: loadavg()[0] ?? Number.NaN,
    quick: options.quick,
  };
  log(`\n▶ ${scenario.id}: ${scenario.title}`);
  log(
    `  ${base.loadText}; ${options.rounds} rounds after a warm-up; latency = ${latency === 'wait' ? 'wait for the lock' : 'whole operation'}`,
  );

  let env: unknown;
  try {
    env = await scenario.setup?.(context);
  } catch (error) {
    if (error instanceof SkipScenario) {
      log(`  skipped: ${error.message}`);
      return { ...base, skipped: error.message, reruns: 0, disturbed: 0, rounds: [], summary: [] };
    }
    throw error;
  }

  const width = Math.max(...scenario.contenders.map((c) => c.name.length));
  const rounds: Measurement[][] = [];
  let reruns = 0;
  let disturbed = 0;
  try {
    for (const contender of scenario.contenders) {
      const m = await measure(scenario, contender, env, { round: -1, scale: scale * WARMUP_SCALE, context });
      log(roundLine('warm-up', m, latency, width));
    }
    for (let round = 0; round < options.rounds; round++) {
      for (let attempt = 0; ; attempt++) {
        const measured: Measurement[] = [];
        for (const contender of rotate(scenario.contenders, round)) {
          const m = await measure(scenario, contender, env, { round, scale, context });
          measured.push(m);
          log(roundLine(`round ${round + 1}`, m, latency, width));
        }
        const hit = measured.find(isDisturbed);
        if (!hit || attempt >= MAX_RERUNS || reruns >= MAX_RERUNS_PER_SCENARIO) {
          if (hit) disturbed++;
          rounds.push(measured);
          break;
        }
        reruns++;
        log(
          `  round ${round + 1} again: other processes took ${((hit.otherCpu ?? 0) * 100).toFixed(0)}% of the client core during ${hit.contender}`,
        );
      }
    }
  } finally {
    await scenario.teardown?.(env);
  }

  const floorName = scenario.contenders.find((c) => c.role === 'floor')?.name;
  const leasekitName = scenario.contenders.find((c) => c.role === 'leasekit')?.name;
  const summary = scenario.contenders.map((c) =>
    summarizeContender(c, rounds, latency, floorName, leasekitName),
  );
  log('  medians:');
  for (const s of summary) {
    const parts = [
      `    ${s.name.padEnd(width)}`,
      `${formatRate(s.opsPerSec).padStart(11)} ops/s`,
      `p50 ${formatMs(s.p50Ms).padStart(9)}`,
      `p99 ${formatMs(s.p99Ms).padStart(9)}`,
      `max ${formatMs(s.maxMs).padStart(9)}`,
      `cpu ${s.cpuUsPerOp.toFixed(2).padStart(7)} µs/op`,
      `gc ${(s.gcShare * 100).toFixed(0).padStart(2)}%`,
      s.fairness === undefined ? '' : `fair ${s.fairness.toFixed(2)}`,
      `failures ${s.failures}`,
    ];
    if (Number.isFinite(s.vsFloor)) parts.push(`${s.vsFloor.toFixed(2)}× floor`);
    if (Number.isFinite(s.vsLeasekit) && s.name !== leasekitName)
      parts.push(`${s.vsLeasekit.toFixed(2)}× leasekit`);
    log(parts.filter((part) => part !== '').join('  '));
    for (const e of s.errors) log(`      ! ${e}`);
  }
  return { ...base, skipped: undefined, reruns, disturbed, rounds, summary };
}
