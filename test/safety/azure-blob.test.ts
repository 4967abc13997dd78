/**
 * Azure Blob (Azurite): leases last 15 s at least, so the scenarios run concurrently, each on
 * its own key: a holder paused past its lease, a lease broken from outside, a renewal that
 * arrives late through a slow proxy. The bounded run (CI) runs only the paused holder, with and
 * without fencing, two clients each (Azurite is slow under load); the long run runs everything.
 */
import { ContainerClient } from '@azure/storage-blob';
import { createAzureBlobBackend } from '@leasekit/azure-blob';
import { type AzuriteServer, startAzurite } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  BOUNDED,
  LONG,
  LONG_ONLY,
  MODE,
  runLength,
  runScenario,
  type ScenarioOptions,
  scenarioIt,
  untilEntered,
} from './harness.js';
import { FaultProxy } from './proxy.js';
import type { ClientConfig } from './records.js';

const TTL = 15_000;
/** Past the lease, with room for the waiter's polling to take over and write meanwhile. */
const PAUSE = 25_000;
const ROW = 'azure-blob (Azurite)';
const CONTAINER = 'safety';
type Fault = NonNullable<ScenarioOptions['fault']>;

let azurite: AzuriteServer;
beforeAll(async () => {
  azurite = await startAzurite();
  await new ContainerClient(azurite.connectionString, CONTAINER).createIfNotExists();
}, 60_000);
afterAll(() => azurite?.stop());

function client(
  key: string,
  durationMs: number,
  overrides: Partial<ClientConfig> = {},
): Omit<ClientConfig, 'name' | 'checkerUrl' | 'fencing'> {
  return {
    key,
    backend: { kind: 'azure-blob', connectionString: azurite.connectionString, container: CONTAINER },
    ttlMs: TTL,
    waitMs: 30_000,
    durationMs,
    holdMs: [20, 200],
    ...overrides,
  };
}

const pausedAtWrite: Fault = async ({ checker }) =>
  checker.arm({ at: 'write', pauseMs: PAUSE, afterWrites: 1 });

describe.concurrent(`azure-blob (${MODE} run)`, () => {
  scenarioIt(LONG_ONLY, 'no fault: 0 overlaps without fencing', async () => {
    const { result } = await runScenario({
      backend: ROW,
      scenario: 'no fault',
      inside: true,
      fencing: false,
      clients: 3,
      client: () => client('a1', runLength(5_000)),
    });
    expect(result.acceptedWrites).toBeGreaterThan(0);
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
  });

  for (const fencing of [false, true]) {
    scenarioIt(
      BOUNDED,
      `holder paused past its lease, write in flight (fencing ${fencing ? 'on' : 'off'})`,
      async () => {
        const { result } = await runScenario({
          backend: ROW,
          scenario: 'holder paused past TTL, write in flight',
          inside: false,
          fencing,
          clients: LONG ? 3 : 2,
          client: () => client(fencing ? 'a2' : 'a3', runLength(3_000) + PAUSE + 3_000),
          fault: pausedAtWrite,
        });
        if (fencing) {
          expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
          expect(result.refusedByFence).toBeGreaterThan(0);
        } else {
          expect(result.overlappingWrites).toBeGreaterThan(0);
          expect(result.lostUpdates).toBeGreaterThan(0);
        }
      },
    );

    // c0 holds one long section (6 s), shorter than its first renewal (renewFraction 0.6: 9 s
    // into the lease), so it cannot learn of the break before its write; its lease is broken as
    // soon as it is in; c1 starts after that (3 s) and finds the blob free.
    scenarioIt(
      LONG_ONLY,
      `lease broken from outside while held (fencing ${fencing ? 'on' : 'off'})`,
      async () => {
        const key = fencing ? 'a4' : 'a5';
        const admin = createAzureBlobBackend({
          connectionString: azurite.connectionString,
          container: CONTAINER,
          fencing: true,
        });
        try {
          const { result } = await runScenario({
            backend: ROW,
            scenario: 'lease broken from outside',
            inside: false,
            fencing,
            clients: 2,
            client: (index) =>
              index === 0
                ? client(key, 1, { holdMs: [6_000, 6_000], renewFraction: 0.6 })
                : client(key, 3_000, { startDelayMs: 3_000, holdMs: [20, 50] }),
            fault: async ({ checker }) => {
              await untilEntered(checker, 'c0');
              await admin.breakLease(key);
            },
          });
          if (fencing) {
            expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0 });
            expect(result.refusedByFence).toBeGreaterThan(0);
          } else {
            expect(result.overlappingWrites).toBeGreaterThan(0);
          }
        } finally {
          await admin.close();
        }
      },
    );
  }

  scenarioIt(
    LONG_ONLY,
    'a renewal that arrives late (12 s proxy latency once the holder is in): the loss is signalled before the deadline, 0 overlaps without fencing',
    async () => {
      const proxy = await new FaultProxy('127.0.0.1', azurite.port).listen();
      const slow = azurite.connectionString.replace(`:${azurite.port}/`, `:${proxy.port}/`);
      try {
        const { result, leases } = await runScenario({
          backend: ROW,
          scenario: 'renewal arrives late (proxy latency)',
          inside: true,
          fencing: false,
          clients: 2,
          client: (index) =>
            index === 0
              ? // The holder: one long section, behind the proxy that turns slow once it holds.
                client('a6', 1_000, {
                  backend: { kind: 'azure-blob', connectionString: slow, container: CONTAINER },
                  holdMs: [17_000, 17_000],
                })
              : client('a6', 19_000, { startDelayMs: 3_000 }),
          fault: async ({ checker }) => {
            await untilEntered(checker, 'c0');
            proxy.set({ latencyMs: 12_000 });
          },
        });
        expect(result).toMatchObject({
          overlappingSections: 0,
          overlappingWrites: 0,
          lostUpdates: 0,
          lossesLate: 0,
        });
        const holder = leases.find((l) => l.client === 'c0');
        expect(holder?.lossAt).toBeDefined();
        expect(holder?.lossAt ?? Infinity).toBeLessThanOrEqual(holder?.deadlineAt ?? 0);
        expect(holder?.wrote).toBe(false);
      } finally {
        await proxy.close();
      }
    },
  );
});
