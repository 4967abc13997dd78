import { randomUUID } from 'node:crypto';
import { azureBlobConnectionString } from '@leasekit/testing/vitest';
import { type Containers, openContainers, seedBlobs, type WorkerEvent } from '../src/index.js';
import { spawnWorker, type TimedEvent, type WorkerProcess } from '../src/pool.js';

export interface Fixture {
  readonly containers: Containers;
  readonly names: readonly string[];
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  spawn(id: string, extra?: readonly string[]): WorkerProcess;
}

/** Fresh input/output containers in the shared Azurite, seeded with `count` small blobs. */
export async function fixture(count: number): Promise<Fixture> {
  const connectionString = azureBlobConnectionString();
  const run = randomUUID().slice(0, 8);
  const storage = { connectionString, input: `in-${run}`, output: `out-${run}` };
  const containers = openContainers(storage);
  const { names } = await seedBlobs(containers.input, {
    count,
    minBytes: 512,
    maxBytes: 2048,
    failing: 0,
    prefix: 'item-',
  });
  const env = { ...process.env, AZURE_STORAGE_CONNECTION_STRING: connectionString };
  const args = ['--input', storage.input, '--output', storage.output, '--poll', '200ms'];
  return {
    containers,
    names,
    args,
    env,
    spawn: (id, extra = []) => spawnWorker({ id, args: [...args, ...extra], env }),
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
