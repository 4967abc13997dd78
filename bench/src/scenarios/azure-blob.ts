/**
 * Azure Blob leases (Azurite's blob service, in memory, on the server core): leasekit against the
 * floor, the raw `@azure/storage-blob` lease calls doing the same acquire → renew → release on the
 * same existing blobs. Every contender has its own container (the same blob names in each), one
 * client built with the same pipeline options, and 15 s leases (Azure's shortest).
 */
import { randomUUID } from 'node:crypto';
import { ContainerClient } from '@azure/storage-blob';
import { createAzureBlobBackend, recommendedRetryOptions } from '@leasekit/azure-blob';
import { createLocker, type Locker } from '@leasekit/core';
import { type AzuriteServer, azureBlobFromEnv, MissingBinaryError, startAzurite } from '@leasekit/testing';
import { pinServer } from '../pin.js';
import { defineScenario, uniformKeys } from '../registry.js';
import { type Contender, type RunContext, type Scenario, SkipScenario } from '../types.js';
import { packageVersion } from '../versions.js';

const TTL_S = 15;
const KEY_PREFIX = 'bench:azure:';
const KEY_COUNT = 100;

interface AzureEnv {
  readonly connectionString: string;
  readonly server: AzuriteServer | undefined;
  readonly containers: { readonly leasekit: string; readonly fencing: string; readonly floor: string };
}

const pipelineOptions = { retryOptions: recommendedRetryOptions };

async function startAzure(context: RunContext): Promise<AzureEnv> {
  let server: AzuriteServer | undefined;
  const fromEnv = azureBlobFromEnv();
  if (!fromEnv) {
    try {
      server = await startAzurite();
    } catch (error) {
      if (error instanceof MissingBinaryError) throw new SkipScenario(error.message);
      throw error;
    }
    await pinServer(server.pid);
  }
  const connectionString = fromEnv ?? server!.connectionString;
  const run = randomUUID().slice(0, 8);
  const containers = {
    leasekit: `bench-leasekit-${run}`,
    fencing: `bench-fencing-${run}`,
    floor: `bench-floor-${run}`,
  };
  // The blobs exist before the first round: what is measured is the steady state (a lease on an
  // existing blob), not the one-off creation of lock blobs.
  const started = performance.now();
  for (const name of Object.values(containers)) {
    const container = new ContainerClient(connectionString, name, pipelineOptions);
    await container.create();
    for (let i = 0; i < KEY_COUNT; i++) {
      const blob = container.getBlockBlobClient(`${KEY_PREFIX}${i}`);
      await blob.upload('', 0);
      // Warm the emulator on the same kind of request.
      const lease = blob.getBlobLeaseClient(randomUUID());
      await lease.acquireLease(TTL_S);
      await lease.renewLease();
      await lease.releaseLease();
    }
  }
  context.log(
    `Azure Blob ready: ${Object.keys(containers).length} containers of ${KEY_COUNT} blobs, warmed in ${Math.round(performance.now() - started)} ms`,
  );
  return { connectionString, server, containers };
}

const serverPids = (env: AzureEnv): readonly number[] => (env.server ? [env.server.pid] : []);

// ---- leasekit ----

interface LeasekitState {
  readonly locker: Locker;
  readonly env: AzureEnv;
}

function leasekitContender(fencing: boolean): Contender<AzureEnv, LeasekitState> {
  return {
    name: fencing ? 'leasekit (azure-blob, fencing)' : 'leasekit (azure-blob)',
    role: 'leasekit',
    note: fencing
      ? `the same with fencing: true: after the acquire, the fence is read from the blob's metadata (skipped when the blob's ETag is the one this client's last write left) and fence + 1 written under the lease: one more request per acquire here`
      : `createLocker(createAzureBlobBackend({ connectionString, container }), { ttl: '${TTL_S}s' }): acquire(key), lease.renew(), lease.release(); one request each (Lease Blob acquire with the lease token as proposed ID, renew, release)`,
    setup: (env) => ({
      env,
      locker: createLocker(
        createAzureBlobBackend({
          connectionString: env.connectionString,
          container: fencing ? env.containers.fencing : env.containers.leasekit,
          fencing,
        }),
        { ttl: `${TTL_S}s` },
      ),
    }),
    async run(state, op) {
      const lease = await state.locker.acquire(op.key);
      const holding = op.hold();
      if (holding) await holding;
      await lease.renew();
      return lease.release();
    },
    teardown: (state) => state.locker.close(),
    serverPids: (state) => serverPids(state.env),
  };
}

// ---- floor ----

interface FloorState {
  readonly container: ContainerClient;
  readonly env: AzureEnv;
}

const floor: Contender<AzureEnv, FloorState> = {
  name: 'floor (raw SDK lease calls)',
  role: 'floor',
  note: `no library: @azure/storage-blob ${packageVersion('@azure/storage-blob')} getBlobLeaseClient(randomUUID()) on the blob, acquireLease(${TTL_S}), renewLease(), releaseLease(), with the same pipeline options as leasekit's client; no validation, error mapping, validity tracking or fencing`,
  setup: (env) => ({
    env,
    container: new ContainerClient(env.connectionString, env.containers.floor, pipelineOptions),
  }),
  async run(state, op) {
    const lease = state.container.getBlobClient(op.key).getBlobLeaseClient(randomUUID());
    await lease.acquireLease(TTL_S);
    const holding = op.hold();
    if (holding) await holding;
    await lease.renewLease();
    await lease.releaseLease();
    return true;
  },
  serverPids: (state) => serverPids(state.env),
};

export const azureBlobScenarios: readonly Scenario<AzureEnv>[] = [
  defineScenario<AzureEnv>({
    id: 'azure-blob/acquire-renew-release',
    title: 'acquire+renew+release, sequential (Azure Blob, Azurite)',
    description:
      'One caller takes a 15 s lease on one of 100 existing blobs, renews it once and releases it, over and over: three requests per operation for leasekit and for the raw SDK floor. The target is leasekit within 1.1× of the floor.',
    load: { mode: 'latency', durationMs: 1_500 },
    keys: uniformKeys(KEY_PREFIX, KEY_COUNT),
    setup: startAzure,
    teardown: async (env) => {
      if (env.server) return env.server.stop();
      // An endpoint from the environment outlives the bench: remove what it made there.
      await Promise.all(
        Object.values(env.containers).map((name) =>
          new ContainerClient(env.connectionString, name, pipelineOptions).deleteIfExists(),
        ),
      );
    },
    contenders: [leasekitContender(false), floor, leasekitContender(true)],
  }),
];
