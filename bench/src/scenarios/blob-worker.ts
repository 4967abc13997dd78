/**
 * The blob worker's job (apps/blob-worker) against Azurite: 4 workers process 200 small blobs,
 * each under a lease on the blob itself: download, gzip, commit the output (`If-None-Match: *`),
 * write a manifest, mark the input done with the lease ID. Every contender does exactly that
 * processing, in the same code; they differ only in how the lease is held. leasekit: core's
 * `withLease` over `@leasekit/azure-blob` in `'blob-names'` mode (renewed by the orchestrator,
 * signal on loss), with and without fencing tokens. Floor: the Azure seed's way, written plainly
 * with the SDK: acquire with a new lease ID (409: someone has it), a renew loop on a timer,
 * release. Each round gets a fresh container of 200 blobs (seeded untimed, in its setup).
 */
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { ContainerClient } from '@azure/storage-blob';
import { createAzureBlobBackend, recommendedRetryOptions } from '@leasekit/azure-blob';
import { createLocker, type Locker } from '@leasekit/core';
import { type AzuriteServer, azureBlobFromEnv, MissingBinaryError, startAzurite } from '@leasekit/testing';
import { pinServer } from '../pin.js';
import { defineScenario } from '../registry.js';
import { type Contender, type RunContext, type Scenario, SkipScenario } from '../types.js';
import { packageVersion } from '../versions.js';

const gzip = promisify(gzipCallback);
const TTL_S = 15;
const BLOBS = 200;
const BLOB_BYTES = 2048;
const pipelineOptions = { retryOptions: recommendedRetryOptions };

interface Env {
  readonly connectionString: string;
  readonly server: AzuriteServer | undefined;
}

interface RoundState {
  readonly input: ContainerClient;
  readonly output: ContainerClient;
  readonly env: Env;
  next: number;
  readonly locker?: Locker;
}

async function startAzure(context: RunContext): Promise<Env> {
  const fromEnv = azureBlobFromEnv();
  if (fromEnv) return { connectionString: fromEnv, server: undefined };
  try {
    const server = await startAzurite();
    await pinServer(server.pid);
    context.log(`Azurite at ${server.blobEndpoint}`);
    return { connectionString: server.connectionString, server };
  } catch (error) {
    if (error instanceof MissingBinaryError) throw new SkipScenario(error.message);
    throw error;
  }
}

/** A fresh pair of containers and 200 input blobs, untimed. */
async function freshRound(env: Env): Promise<Pick<RoundState, 'input' | 'output'>> {
  const run = randomUUID().slice(0, 8);
  const input = new ContainerClient(env.connectionString, `bw-in-${run}`, pipelineOptions);
  const output = new ContainerClient(env.connectionString, `bw-out-${run}`, pipelineOptions);
  await Promise.all([input.create(), output.create()]);
  const body = Buffer.from('lease fence blob worker renew expire commit\n'.repeat(64)).subarray(
    0,
    BLOB_BYTES,
  );
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < BLOBS; i = next++)
      await input.getBlockBlobClient(blobName(i)).upload(body, body.length);
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  return { input, output };
}

const blobName = (i: number): string => `item-${String(i).padStart(5, '0')}.txt`;

/** The work, the same for every contender: every write to the input carries the lease ID. */
async function processBlob(
  state: RoundState,
  name: string,
  leaseId: string,
  fence: number | undefined,
  abortSignal?: AbortSignal,
): Promise<void> {
  const input = state.input.getBlobClient(name);
  const conditions = { leaseId };
  const download = await input.download(
    0,
    undefined,
    abortSignal ? { abortSignal, conditions } : { conditions },
  );
  const chunks: Buffer[] = [];
  for await (const chunk of download.readableStreamBody!) chunks.push(chunk as Buffer);
  const data = Buffer.concat(chunks);
  const zipped = await gzip(data);
  const output = state.output.getBlockBlobClient(`${name}.gz`);
  const common = abortSignal ? { abortSignal } : {};
  await output.upload(zipped, zipped.length, { ...common, conditions: { ifNoneMatch: '*' } });
  const manifest = JSON.stringify({
    input: name,
    bytes: data.length,
    outputBytes: zipped.length,
    fence: fence ?? null,
  });
  await state.output
    .getBlockBlobClient(`${name}.manifest.json`)
    .upload(manifest, manifest.length, { ...common, conditions: { ifNoneMatch: '*' } });
  await input.setMetadata({ ...download.metadata, lkbw_state: 'done' }, { ...common, conditions });
}

function leasekitContender(fencing: boolean): Contender<Env, RoundState> {
  return {
    name: fencing ? 'leasekit withLease (blob-names, fencing)' : 'leasekit withLease (blob-names)',
    role: 'leasekit',
    note: `createLocker(createAzureBlobBackend({ containerClient, keys: 'blob-names', fencing: ${fencing} }), { ttl: '${TTL_S}s' }).withLease(blob, work, { wait: 0 }): renewed by core's orchestrator, the signal passed to every SDK call${fencing ? '; fencing reads and writes the fence in the blob metadata under the lease (two more requests per blob)' : ''}`,
    async setup(env) {
      const containers = await freshRound(env);
      const locker = createLocker(
        createAzureBlobBackend({ containerClient: containers.input, keys: 'blob-names', fencing }),
        { ttl: `${TTL_S}s` },
      );
      return { ...containers, env, next: 0, locker };
    },
    async run(state) {
      const name = blobName(state.next++);
      await state.locker!.withLease(
        name,
        (signal, lease) => processBlob(state, name, lease.token, lease.fence, signal),
        { wait: 0 },
      );
      return true;
    },
    teardown: (state) => state.locker?.close(),
    serverPids: (state) => (state.env.server ? [state.env.server.pid] : []),
  };
}

const floor: Contender<Env, RoundState> = {
  name: "floor (the seed's way, raw SDK)",
  role: 'floor',
  note: `no library: @azure/storage-blob ${packageVersion('@azure/storage-blob')} getBlobLeaseClient(randomUUID()).acquireLease(${TTL_S}) (409: skip), renewLease() every ${TTL_S / 3} s on a setInterval while the work runs, clearInterval, releaseLease(); same pipeline options; no validity tracking, loss signal or fencing`,
  async setup(env) {
    return { ...(await freshRound(env)), env, next: 0 };
  },
  async run(state) {
    const name = blobName(state.next++);
    const leaseClient = state.input.getBlobClient(name).getBlobLeaseClient(randomUUID());
    try {
      await leaseClient.acquireLease(TTL_S);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 409) return false;
      throw error;
    }
    const renewer = setInterval(
      () => {
        leaseClient.renewLease().catch(() => {});
      },
      (TTL_S * 1000) / 3,
    );
    try {
      await processBlob(state, name, leaseClient.leaseId, undefined);
    } finally {
      clearInterval(renewer);
      await leaseClient.releaseLease();
    }
    return true;
  },
  serverPids: (state) => (state.env.server ? [state.env.server.pid] : []),
};

export const blobWorkerScenarios: readonly Scenario<Env>[] = [
  defineScenario<Env>({
    id: 'blob-worker/200-blobs',
    title: 'blob worker: 4 workers, 200 small blobs, a lease per blob (Azure Blob, Azurite)',
    description:
      "Blobs per second when 4 workers each take a 15 s lease on a 2 KiB blob, download it, gzip it, commit the output and a manifest with If-None-Match: *, mark the input done with the lease ID and release: leasekit's withLease against the Azure seed's acquire / renew timer / release. The target is leasekit's per-blob cost within 1.2x of the floor.",
    load: { mode: 'throughput', workers: 4, ops: BLOBS },
    setup: startAzure,
    teardown: async (env) => {
      if (env.server) await env.server.stop();
    },
    contenders: [leasekitContender(false), floor, leasekitContender(true)],
  }),
];
