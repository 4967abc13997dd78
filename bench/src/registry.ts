/**
 * Helpers for writing scenarios, and the selection `--filter` makes. The list of registered
 * scenarios itself is `src/scenarios/index.ts`.
 */
import type { Contender, KeyPicker, OpContext, Role, RunContext, Scenario } from './types.js';

const ID = /^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9-]*$/;

/** Checks a scenario's shape and returns it unchanged (typed). Throws on a mistake in the definition. */
export function defineScenario<Env>(scenario: Scenario<Env>): Scenario<Env> {
  const where = `scenario ${JSON.stringify(scenario.id)}`;
  if (!ID.test(scenario.id))
    throw new Error(`${where}: id must look like group/name (lowercase, digits, dashes)`);
  const { load } = scenario;
  if (load.durationMs === undefined && load.ops === undefined)
    throw new Error(`${where}: load needs durationMs or ops`);
  if (load.mode === 'throughput' && !(Number.isInteger(load.workers) && load.workers >= 1)) {
    throw new Error(`${where}: workers must be a positive integer`);
  }
  if (scenario.contenders.length === 0) throw new Error(`${where}: no contenders`);
  const names = new Set<string>();
  for (const contender of scenario.contenders) {
    if (names.has(contender.name))
      throw new Error(`${where}: two contenders named ${JSON.stringify(contender.name)}`);
    names.add(contender.name);
  }
  if (scenario.contenders.filter((c) => c.role === 'floor').length > 1)
    throw new Error(`${where}: more than one floor`);
  return scenario;
}

/** Checks that ids are unique across the registry. */
export function checkRegistry(scenarios: readonly Scenario[]): void {
  const seen = new Set<string>();
  for (const scenario of scenarios) {
    if (seen.has(scenario.id)) throw new Error(`two scenarios have the id ${JSON.stringify(scenario.id)}`);
    seen.add(scenario.id);
  }
}

/**
 * The scenarios whose id or title contains any of `filters` (case-insensitive); all of them
 * when `filters` is empty.
 */
export function selectScenarios<T extends Scenario>(
  scenarios: readonly T[],
  filters: readonly string[],
): T[] {
  const wanted = filters.map((f) => f.trim().toLowerCase()).filter((f) => f.length > 0);
  if (wanted.length === 0) return [...scenarios];
  return scenarios.filter((s) =>
    wanted.some((f) => s.id.toLowerCase().includes(f) || s.title.toLowerCase().includes(f)),
  );
}

/** Keys drawn uniformly from `count` keys `${prefix}0` … (the strings are made once). */
export function uniformKeys(prefix: string, count: number): KeyPicker {
  const keys = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  return (_worker, _seq, random) => keys[Math.floor(random() * count)]!;
}

/** Releases what was acquired. Returning (or resolving to) `false` counts the operation as failed. */
export type Release = () => unknown;

/** A contender for lock workloads: take the key, hold it for the scenario's `holdMs`, release it. */
export interface LockContenderSpec<Env, State> {
  readonly name: string;
  readonly role: Role;
  readonly note?: string;
  setup(env: Env, context: RunContext): Promise<State> | State;
  /** Takes the lock on `key`, waiting as long as it must; resolves to what releases it. */
  acquire(state: State, key: string, op: OpContext): Promise<Release>;
  teardown?(state: State): Promise<void> | void;
  serverPids?(state: State): readonly number[];
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/**
 * Builds a `Contender` whose operation is acquire → `op.hold()` → release, the shape of most
 * lock workloads, so that every contender of a scenario runs exactly the same steps.
 */
export function lockContender<Env, State>(spec: LockContenderSpec<Env, State>): Contender<Env, State> {
  const { acquire } = spec;
  const contender: Contender<Env, State> = {
    name: spec.name,
    role: spec.role,
    setup: (env, context) => spec.setup(env, context),
    async run(state, op) {
      const release = await acquire(state, op.key, op);
      const holding = op.hold();
      if (holding) await holding;
      const released = release();
      return isThenable(released) ? await released : released;
    },
  };
  return {
    ...contender,
    ...(spec.note === undefined ? {} : { note: spec.note }),
    ...(spec.teardown ? { teardown: (state: State) => spec.teardown!(state) } : {}),
    ...(spec.serverPids ? { serverPids: (state: State) => spec.serverPids!(state) } : {}),
  };
}
