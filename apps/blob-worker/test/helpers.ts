import { randomUUID } from 'node:crypto';
import { azureBlobConnectionString } from '@leasekit/testing/vitest';
import { expect } from 'vitest';
import { type Containers, openContainers, seedBlobs, type WorkerEvent } from '../src/index.js';
import { spawnWorker, type TimedEvent, type WorkerProcess } from '../src/pool.js';

export interface Fixture {
  readonly containers: Containers;
  readonly names: readonly string[];
  /** Seeded poison (the transform throws) and crashing (processing kills the worker). */
  readonly poison: readonly string[];
  readonly crashing: readonly string[];
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** A worker process on this fixture's containers; `env` adds to the fixture's environment. */
  spawn(id: string, extra?: readonly string[], env?: NodeJS.ProcessEnv): WorkerProcess;
}

/** Fresh input/output containers in the shared Azurite, seeded with `count` small blobs. */
export async function fixture(
  count: number,
  marked: { readonly failing?: number; readonly crashing?: number } = {},
): Promise<Fixture> {
  const connectionString = azureBlobConnectionString();
  const run = randomUUID().slice(0, 8);
  const storage = { connectionString, input: `in-${run}`, output: `out-${run}` };
  const containers = openContainers(storage);
  const { names, poison, crashing } = await seedBlobs(containers.input, {
    count,
    minBytes: 512,
    maxBytes: 2048,
    failing: marked.failing ?? 0,
    crashing: marked.crashing ?? 0,
    prefix: 'item-',
  });
  const env = { ...process.env, AZURE_STORAGE_CONNECTION_STRING: connectionString };
  const args = ['--input', storage.input, '--output', storage.output, '--poll', '200ms'];
  return {
    containers,
    names,
    poison,
    crashing,
    args,
    env,
    spawn: (id, extra = [], more = {}) =>
      spawnWorker({ id, args: [...args, ...extra], env: { ...env, ...more } }),
  };
}

export type EventOf<T extends WorkerEvent['type']> = Extract<WorkerEvent, { type: T }>;

export function eventsOf<T extends WorkerEvent['type']>(
  workers: readonly WorkerProcess[],
  type: T,
): (TimedEvent & { event: EventOf<T> })[] {
  return workers.flatMap((w) =>
    w.events.filter((e): e is TimedEvent & { event: EventOf<T> } => e.event.type === type),
  );
}

export async function outputExists(containers: Containers, name: string): Promise<boolean> {
  return containers.output.getBlobClient(name).exists();
}

/**
 * Keeps `slots` workers running, as a process supervisor would: a worker killed by a signal is
 * replaced (`<id>.<n>`), at most `maxRestarts` times in all. Resolves once every worker has
 * exited with nothing to replace, with every process it started.
 */
export async function supervise(
  f: Fixture,
  ids: readonly string[],
  extra: readonly string[],
  maxRestarts: number,
  env: NodeJS.ProcessEnv = {},
): Promise<{ readonly workers: readonly WorkerProcess[]; readonly restarts: number }> {
  const workers: WorkerProcess[] = [];
  let restarts = 0;
  const keep = async (id: string): Promise<void> => {
    for (let generation = 0; ; generation++) {
      const worker = f.spawn(generation === 0 ? id : `${id}.${generation}`, extra, env);
      workers.push(worker);
      const code = await worker.exited;
      if (typeof code === 'number' || restarts >= maxRestarts) return;
      restarts++;
    }
  };
  await Promise.all(ids.map(keep));
  return { workers, restarts };
}

/** Every worker exited on its own with 0 (every blob settled). */
export async function allExited(workers: readonly WorkerProcess[]): Promise<void> {
  const codes = await Promise.all(workers.map((w) => w.exited));
  expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual(workers.map(() => 0));
}
