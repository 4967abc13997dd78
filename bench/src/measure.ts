/** Runs one contender for one round and measures it. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { currentPinning } from './pin.js';
import { type LatencySummary, SampleBuffer, seededRandom, summarize } from './stats.js';
import type { Contender, KeyPicker, OpContext, Role, RunContext, Scenario } from './types.js';

/** Operations of the process (or worker) that completed fewest, over the mean; `undefined` for fewer than two. */
function fairnessOf(counts: readonly number[]): number | undefined {
  const total = counts.reduce((sum, count) => sum + count, 0);
  return counts.length > 1 && total > 0 ? Math.min(...counts) / (total / counts.length) : undefined;
}

export interface Measurement {
  readonly contender: string;
  readonly role: Role;
  /** Operations completed (succeeded or failed). */
  readonly ops: number;
  /** Operations that threw, rejected or returned `false`, plus exclusion violations. */
  readonly failures: number;
  /** Times `hold()` found another operation holding the same key (counted in `failures` too). */
  readonly violations: number;
  /** Up to three distinct failure messages. */
  readonly errors: readonly string[];
  /** From the first operation's start to the last one's end (the last ones may end after the window). */
  readonly elapsedMs: number;
  /** Operations that ended within the round's window, per second of window (see `measure`). */
  readonly opsPerSec: number;
  /** Whole-operation latency, ms. */
  readonly op: LatencySummary;
  /** Time until `hold()` was called, ms (only when the scenario reports `wait`). */
  readonly wait: LatencySummary | undefined;
  /** This process's CPU time (user + system) per operation, µs. */
  readonly cpuUsPerOp: number;
  /** The contender's server processes' CPU time per operation, µs (when it names them). */
  readonly serverCpuUsPerOp: number | undefined;
  /**
   * Share (0–1) of the round's wall time that the bench's main thread was ready to run but
   * waited for a CPU (run-queue delay, /proc/self/schedstat): interference from other processes
   * (or its own helper threads). `undefined` without /proc.
   */
  readonly cpuWait: number | undefined;
  /**
   * Share (0–1) of the client core (of all cores when not pinned) that other processes used
   * during the round. With `cpuWait`, tells interference from the bench's own GC threads.
   */
  readonly otherCpu: number | undefined;
  /**
   * Throughput mode: operations of the worker that completed fewest, over the mean per worker
   * (1: every worker got its share; near 0: some worker starved). `undefined` for one worker.
   */
  readonly fairness: number | undefined;
  /** Share (0–1) of the round's wall time spent in garbage-collection pauses. */
  readonly gcShare: number;
}

export interface MeasureOptions {
  readonly round: number;
  /** Multiplies the scenario's duration and op count (`--quick`, warm-up). */
  readonly scale: number;
  readonly context: RunContext;
}

const DEFAULT_KEY = 'bench:key';
const constantKey: KeyPicker = () => DEFAULT_KEY;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

let clockTicks: number | undefined;

/** CPU time (user + system) of a process, µs, from /proc; `undefined` when unreadable. */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here (0-based 11, 12).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks / ticksPerSecond()) * 1e6;
  } catch {
    return undefined;
  }
}

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(out.stdout?.trim()) || 100;
  }
  return clockTicks;
}

/** Busy time of one CPU (or of all, `undefined`) since boot, µs, from /proc/stat. */
export function cpuBusyMicros(cpu: number | undefined): number | undefined {
  try {
    const name = cpu === undefined ? 'cpu' : `cpu${cpu}`;
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${name} `));
    if (!line) return undefined;
    // user nice system idle iowait irq softirq steal (guest time is already counted in user)
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    return (busy / ticksPerSecond()) * 1e6;
  } catch {
    return undefined;
  }
}

/** How long this process's main thread has waited on a run queue since it started, ms (/proc/self/schedstat). */
export function runQueueWaitMs(): number | undefined {
  try {
    const [, waitNs] = readFileSync('/proc/self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    return waitNs === undefined || Number.isNaN(waitNs) ? undefined : waitNs / 1e6;
  } catch {
    return undefined;
  }
}

function sumServerCpu(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const micros = processCpuMicros(pid);
    if (micros === undefined) return undefined;
    total += micros;
  }
  return total;
}

/** The mutable per-worker context handed to `run`: one object per worker, reused between its operations. */
class WorkerContext implements OpContext {
  key = DEFAULT_KEY;
  seq = 0;
  start = 0;
  held = false;
  readonly worker: number;
  readonly holdMs: number;
  readonly #shared: Shared;

  constructor(worker: number, shared: Shared) {
    this.worker = worker;
    this.holdMs = shared.holdMs;
    this.#shared = shared;
  }

  hold(): Promise<void> | undefined {
    const shared = this.#shared;
    if (this.held) return undefined;
    this.held = true;
    if (shared.waits) shared.waits.push(performance.now() - this.start);
    if (this.holdMs <= 0) return undefined;
    const key = this.key;
    const holders = shared.holders;
    const count = holders.get(key) ?? 0;
    if (count > 0) shared.violations++;
    holders.set(key, count + 1);
    return new Promise<void>((resolve) => {
      setTimeout(() => {
        const left = (holders.get(key) ?? 1) - 1;
        if (left === 0) holders.delete(key);
        else holders.set(key, left);
        resolve();
      }, this.holdMs);
    });
  }
}

interface Shared {
  readonly holdMs: number;
  readonly holders: Map<string, number>;
  readonly waits: SampleBuffer | undefined;
  violations: number;
}

/**
 * Sets the contender up, runs its workers until the round's duration or op count is reached
 * (operations in flight then are finished and their latencies kept), tears it down, and returns
 * what was measured. Setup and teardown are not timed; CPU time covers the whole run.
 */
export async function measure(
  scenario: Scenario,
  contender: Contender,
  env: unknown,
  options: MeasureOptions,
): Promise<Measurement> {
  const { load } = scenario;
  const workers = load.mode === 'throughput' ? load.workers : 1;
  const durationMs = load.durationMs === undefined ? Infinity : load.durationMs * options.scale;
  const maxOps = load.ops === undefined ? Infinity : Math.max(1, Math.round(load.ops * options.scale));
  const keys = scenario.keys ?? constantKey;
  const shared: Shared = {
    holdMs: scenario.holdMs ?? 0,
    holders: new Map(),
    waits: scenario.latency === 'wait' ? new SampleBuffer() : undefined,
    violations: 0,
  };
  const samples = new SampleBuffer();
  const errors = new Set<string>();
  let started = 0;
  let failures = 0;
  let inWindow = 0;
  const perWorker = new Array<number>(workers).fill(0);

  const state = await contender.setup(env, options.context);
  const pids = contender.serverPids?.(state) ?? [];
  try {
    if (contender.runRound) {
      const serverBefore = pids.length > 0 ? sumServerCpu(pids) : undefined;
      const roundMs = Number.isFinite(durationMs) ? durationMs : 1000;
      const t0 = performance.now();
      const report = await contender.runRound(state, {
        durationMs: roundMs,
        seed: (options.round + 1) * 0x9e3779b1,
      });
      const elapsedMs = performance.now() - t0;
      const serverAfter = pids.length > 0 ? sumServerCpu(pids) : undefined;
      const ops = report.op.length;
      const serverCpu =
        serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : undefined;
      return {
        contender: contender.name,
        role: contender.role,
        ops,
        failures: report.failures,
        violations: 0,
        errors: report.errors.slice(0, 3),
        elapsedMs,
        opsPerSec: report.opsInWindow / (roundMs / 1000),
        op: summarize(report.op),
        wait: summarize(report.wait),
        cpuUsPerOp: ops === 0 ? Number.NaN : report.cpuMicros / ops,
        serverCpuUsPerOp: serverCpu === undefined || ops === 0 ? undefined : serverCpu / ops,
        // Other processes' share of the CPU means nothing here: the workers are other processes.
        cpuWait: undefined,
        otherCpu: undefined,
        fairness: fairnessOf(report.perProcess),
        gcShare: 0,
      };
    }
    // No forced gc() here: a full collection right before a run of short-lived promises makes
    // V8 pretenure them and spend up to half the round in scavenges (seen on the floor itself).
    await new Promise<void>((resolve) => setImmediate(resolve));
    const serverBefore = pids.length > 0 ? sumServerCpu(pids) : undefined;
    const queuedBefore = runQueueWaitMs();
    const pinning = currentPinning();
    const watchedCores = pinning.active ? 1 : cpus().length;
    const busyBefore = cpuBusyMicros(pinning.clientCpu);
    let gcMs = 0;
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) gcMs += entry.duration;
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const cpuBefore = process.cpuUsage();
    const t0 = performance.now();
    const endAt = t0 + durationMs;

    const loop = async (worker: number): Promise<void> => {
      const ctx = new WorkerContext(worker, shared);
      const random = seededRandom((options.round + 1) * 0x9e3779b1 + worker * 0x85ebca6b);
      for (let seq = 0; started < maxOps && performance.now() < endAt; seq++) {
        started++;
        ctx.key = keys(worker, seq, random);
        ctx.seq = seq;
        ctx.held = false;
        const start = performance.now();
        ctx.start = start;
        let ok: boolean;
        try {
          let outcome = contender.run(state, ctx);
          if (isThenable(outcome)) outcome = await outcome;
          ok = outcome !== false;
          if (!ok && errors.size < 3) errors.add('run returned false');
        } catch (error) {
          ok = false;
          if (errors.size < 3)
            errors.add(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        }
        const end = performance.now();
        samples.push(end - start);
        if (end <= endAt) inWindow++;
        if (!ok) failures++;
        perWorker[worker]!++;
      }
    };
    await Promise.all(Array.from({ length: workers }, (_, worker) => loop(worker)));

    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpuBefore);
    const queuedAfter = runQueueWaitMs();
    const busyAfter = cpuBusyMicros(pinning.clientCpu);
    const otherMicros =
      busyBefore === undefined || busyAfter === undefined
        ? undefined
        : busyAfter - busyBefore - cpu.user - cpu.system;
    const otherCpu =
      otherMicros === undefined
        ? undefined
        : Math.min(1, Math.max(0, otherMicros / (elapsedMs * 1000 * watchedCores)));
    const cpuWait =
      queuedBefore === undefined || queuedAfter === undefined
        ? undefined
        : (queuedAfter - queuedBefore) / elapsedMs;
    // GC entries reach the observer from the event loop (not `takeRecords`): let it turn first.
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
    gcObserver.disconnect();
    const serverAfter = pids.length > 0 ? sumServerCpu(pids) : undefined;
    const ops = samples.length;
    const serverCpu =
      serverBefore !== undefined && serverAfter !== undefined ? serverAfter - serverBefore : undefined;
    if (shared.violations > 0)
      errors.add(`${shared.violations} exclusion violation(s): two holders of one key`);
    return {
      contender: contender.name,
      role: contender.role,
      ops,
      failures: failures + shared.violations,
      violations: shared.violations,
      errors: [...errors],
      elapsedMs,
      // A fixed-duration round counts what completed within its window, so one straggler that
      // ends late (its latency is in the samples) does not stretch the divisor; a round that
      // stopped at its op count divides by its elapsed time.
      opsPerSec: (elapsedMs < durationMs ? ops : inWindow) / (Math.min(elapsedMs, durationMs) / 1000),
      op: summarize(samples.toArray()),
      wait: shared.waits ? summarize(shared.waits.toArray()) : undefined,
      cpuUsPerOp: ops === 0 ? Number.NaN : (cpu.user + cpu.system) / ops,
      serverCpuUsPerOp: serverCpu === undefined || ops === 0 ? undefined : serverCpu / ops,
      cpuWait,
      otherCpu,
      gcShare: gcMs / elapsedMs,
      fairness: fairnessOf(perWorker),
    };
  } finally {
    await contender.teardown?.(state);
  }
}
