/**
 * Azure Blob (Azurite): leases last 15 s at least, so the scenarios run concurrently, each on
 * its own key: a holder paused past its lease, a lease broken from outside, a renewal that
 * arrives late through a slow proxy.
 */
import { ContainerClient } from '@azure/storage-blob';
import { createAzureBlobBackend } from '@leasekit/azure-blob';
import { type AzuriteServer, startAzurite } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLength, runScenario, type ScenarioOptions, sleep } from './harness.js';
import { FaultProxy } from './proxy.js';
import type { ClientConfig } from './records.js';

const TTL = 15_000;
const PAUSE = 20_000;
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

describe.concurrent('azure-blob', () => {
  it('no fault: 0 overlaps without fencing', async () => {
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
    it(`holder paused past its lease, write in flight (fencing ${fencing ? 'on' : 'off'})`, async () => {
      const { result } = await runScenario({
        backend: ROW,
        scenario: 'holder paused past TTL, write in flight',
        inside: false,
        fencing,
        clients: 3,
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
    });

    it(`lease broken from outside while held (fencing ${fencing ? 'on' : 'off'})`, async () => {
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
          clients: 3,
          // Long sections: a broken holder learns it at its next renewal (a third of the lease).
          client: () => client(key, runLength(6_000), { holdMs: [800, 1_200] }),
          fault: async () => {
            const until = performance.now() + runLength(5_000);
            await sleep(1_000);
            while (performance.now() < until) {
              await admin.breakLease(key).catch(() => undefined);
              await sleep(700);
            }
          },
        });
        if (fencing) expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0 });
        else expect(result.overlappingWrites).toBeGreaterThan(0);
      } finally {
        await admin.close();
      }
    });
  }

  it('a renewal that arrives late (10 s proxy latency): the loss is signalled before the deadline, 0 overlaps without fencing', async () => {
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
            : client('a6', 22_000, { startDelayMs: 3_000 }),
        fault: async () => {
          await sleep(3_000);
          proxy.set({ latencyMs: 10_000 });
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
  });
});
