/**
 * The scenario registry's types. A scenario is a named workload run against several
 * contenders (leasekit, a floor, peer libraries); every contender of a scenario runs the same
 * operation stream, one after another, in interleaved rounds.
 */

/** What part a contender plays in the comparison. */
export type Role =
  /** leasekit itself. The first `leasekit` contender is the reference of the `× leasekit` column. */
  | 'leasekit'
  /** The least work that does the same job (no library): the reference of the `× floor` column. */
  | 'floor'
  /** Another library doing the same job. */
  | 'peer'
  /**
   * The same workload with no store at all (an in-process lock): what no contender can beat on
   * this machine, shown where a target would otherwise look reachable.
   */
  | 'ceiling';

/**
 * How a scenario drives its contenders. A round of one contender stops when `durationMs` has
 * elapsed or `ops` operations have completed, whichever comes first (give at least one).
 * `--quick` scales both by `QUICK_SCALE`.
 */
export type Load =
  /** One operation at a time: each operation's latency is the figure of interest. */
  | { readonly mode: 'latency'; readonly durationMs?: number; readonly ops?: number }
  /** `workers` concurrent loops, each starting its next operation when the last one ends. */
  | {
      readonly mode: 'throughput';
      readonly workers: number;
      readonly durationMs?: number;
      readonly ops?: number;
    };

/** Picks the key of one operation. `random` is seeded per round and worker: every contender sees the same keys. */
export type KeyPicker = (worker: number, seq: number, random: () => number) => string;

/** What the runner hands a contender for one operation. Reused between a worker's operations: do not keep it. */
export interface OpContext {
  /** The key this operation works on (from the scenario's `keys`). */
  readonly key: string;
  /** Worker index, `0` in latency mode. */
  readonly worker: number;
  /** Index of this operation within its worker's loop. */
  readonly seq: number;
  /** How long the scenario wants the lock held, in ms (0: release at once). */
  readonly holdMs: number;
  /**
   * Call once the lock is held. Records the wait (time from the start of the operation),
   * checks that no other operation holds the same key, and, when `holdMs > 0`, returns a
   * promise that resolves after the hold. Returns `undefined` when there is nothing to wait for,
   * so a hot loop can skip an `await`.
   */
  hold(): Promise<void> | undefined;
}

/** Passed to setups: whether this is a `--quick` run, and how to log. */
export interface RunContext {
  readonly quick: boolean;
  /** Prints a line under the current scenario. */
  log(message: string): void;
}

/**
 * One contender of a scenario. `setup` runs before each of its rounds (not timed), `run` is one
 * operation (timed), `teardown` after the round (not timed). State made by `setup` is handed to
 * `run` and `teardown`; the scenario's environment (servers it started) is handed to `setup`.
 *
 * Method syntax on purpose: it lets a `Contender<MyEnv, MyState>` stand in a list of
 * `Contender<MyEnv>` without casts.
 */
export interface Contender<Env = unknown, State = unknown> {
  /** Shown in the table: the library and the backend, e.g. `leasekit (memory)`, `redlock-universal`. */
  readonly name: string;
  readonly role: Role;
  /** One line on what exactly it runs, shown under the table (version, options, caveats). */
  readonly note?: string;
  setup(env: Env, context: RunContext): Promise<State> | State;
  /**
   * One operation. Return (or resolve to) `false` to count it as failed; a throw (or a
   * rejection) counts as failed too and its message is reported. Anything else is a success.
   * May return synchronously: the runner only awaits thenables.
   */
  run(state: State, op: OpContext): unknown;
  teardown?(state: State): Promise<void> | void;
  /** Server processes this contender talks to: their CPU time is reported per operation too. */
  serverPids?(state: State): readonly number[];
  /**
   * Runs a whole round itself instead of `run` in this process's workers (a contender whose
   * workers are other processes): `measure` times it and reduces what it reports.
   */
  runRound?(state: State, round: RoundSpec): Promise<RoundReport>;
}

/** What a contender running its own round (`Contender.runRound`) is asked for. */
export interface RoundSpec {
  /** How long the round lasts, ms (already scaled). */
  readonly durationMs: number;
  /** Seeds the key streams: the same for every contender in a round. */
  readonly seed: number;
}

/** What a contender running its own round reports. */
export interface RoundReport {
  /** Operations that ended within the window, and all of them (those in flight at its end finish). */
  readonly opsInWindow: number;
  readonly failures: number;
  readonly errors: readonly string[];
  /** Whole-operation latencies and waits for the lock, ms, of every operation of every process. */
  readonly op: Float64Array;
  readonly wait: Float64Array;
  /** Operations completed by each worker process. */
  readonly perProcess: readonly number[];
  /** CPU time (user + system) the worker processes used during the round, µs. */
  readonly cpuMicros: number;
}

export interface Scenario<Env = unknown> {
  /** Stable id, `group/name`, used by `--filter` and by the README's markers: `memory/acquire-release`. */
  readonly id: string;
  /** Shown as the table's heading: `acquire+release, sequential (memory)`. */
  readonly title: string;
  /** One or two sentences: what is measured and how to read it. */
  readonly description: string;
  readonly load: Load;
  /** Key of each operation. Default: one key, `bench:key`. */
  readonly keys?: KeyPicker;
  /** How long each operation holds the lock (`OpContext.holdMs`). Default 0. */
  readonly holdMs?: number;
  /**
   * Which latency the p50/p99 columns show: the whole operation (`op`, the default) or the
   * time until the lock was held (`wait`, from `OpContext.hold()`).
   */
  readonly latency?: 'op' | 'wait';
  /**
   * Starts what the contenders share (servers, containers) once per scenario. Throw
   * `SkipScenario` when something it needs is missing: the scenario is reported as skipped.
   */
  setup?(context: RunContext): Promise<Env> | Env;
  teardown?(env: Env): Promise<void> | void;
  readonly contenders: readonly Contender<Env>[];
}

/** Thrown by a scenario's `setup` when it cannot run here (a server binary is missing, say). */
export class SkipScenario extends Error {
  override readonly name = 'SkipScenario';
}

/** `--quick` multiplies durations and op counts by this. */
export const QUICK_SCALE = 0.25;
