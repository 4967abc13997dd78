import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runLeaseContractTests } from '@leasekit/contract-tests';
import { createLocker, type LeaseLostError } from '@leasekit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzureBlobBackendOptions, createAzureBlobBackend } from '../src/index.js';
import {
  backendFactory,
  capabilities,
  connectionString,
  containerClient,
  TTL_MS,
  uniqueContainer,
  uniqueKey,
} from './helpers.js';
import { type AzureProxy, startAzureProxy } from './proxy.js';

// Everything that waits out real 15 s leases, in one file whose tests all run concurrently (each
// uses its own keys): the contract groups that need real time (expiry, renewal; the quick groups are
// in contract.test.ts) and this adapter's own. The file takes about as long as its longest test
// (2.5 TTLs) instead of the sum, in one of the two test forks. LEASEKIT_QUICK=1 skips them (visibly).
const quick = process.env.LEASEKIT_QUICK === '1';
const container = uniqueContainer('long');
const backends = backendFactory({ connectionString: connectionString(), container });

describe.concurrent('contract groups over real time', () => {
  for (const fencing of [true, false]) {
    runLeaseContractTests({
      name: `azure-blob (lock blobs${fencing ? ', fencing' : ''})`,
      createBackend: () =>
        createAzureBlobBackend({ connectionString: connectionString(), container, fencing }),
      capabilities: capabilities(fencing),
      hooks: {
        forceExpire: async (key) => {
          await backends.create().breakLease(key, 0);
        },
      },
      timing: { ttlMs: TTL_MS },
      slow: !quick,
      only: ['expiry', 'renewal'],
    });
  }
});
const locker = (options: Partial<AzureBlobBackendOptions> = {}) =>
  createLocker(backends.create(options), { ttl: TTL_MS, wait: 0 });
const isAzurite = /devstoreaccount1/.test(connectionString());
const children = new Set<ChildProcess>();
let proxy: AzureProxy;

beforeAll(async () => {
  await containerClient(container).createIfNotExists();
  proxy = await startAzureProxy(connectionString());
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await backends.closeAll();
  await proxy.close();
});

const lostReason = (signal: AbortSignal) =>
  new Promise<LeaseLostError>((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason as LeaseLostError), { once: true }),
  );

describe.skipIf(quick).concurrent('leases over real time', () => {
  it('a broken lease fires the holder loss signal at its next renewal', async () => {
    const admin = backends.create();
    const l = locker();
    const key = uniqueKey('broken');
    let seen: AbortSignal | undefined;
    const started = performance.now();
    const outcome = l.withLease(key, async (signal) => {
      seen = signal;
      await admin.breakLease(key, 0);
      const reason = await lostReason(signal);
      return reason;
    });
    await expect(outcome).rejects.toMatchObject({ code: 'LEASE_LOST', reason: 'taken' });
    expect(seen?.aborted).toBe(true);
    expect((seen!.reason as Error).message).toMatch(
      /^\[leasekit\] \[azure-blob\] renew ".+": Azure answered 409 LeaseIsBrokenAndCannotBeRenewed: The lease ID matched/,
    );
    // Noticed at the first renewal, a third of the TTL in.
    expect(performance.now() - started).toBeLessThan(TTL_MS / 2);
    await l.close();
  });

  it('renew() with another TTL changes the lease duration on Azure', async () => {
    const [holder, other] = [locker(), locker()];
    const key = uniqueKey('retime');
    const lease = await holder.acquire(key, { mode: 'timeout' });
    await lease.renew('40s');
    await sleep(TTL_MS + 3_000); // past the first duration
    expect(lease.held).toBe(true);
    expect(await other.tryAcquire(key)).toBeNull();
    expect(await lease.release()).toBe(true);
    await Promise.all([holder.close(), other.close()]);
  });

  it('a renewal of an expired lease with another lease ID is not taken as ours (Azurite renews it)', async () => {
    const backend = backends.create();
    const key = uniqueKey('expired-renew');
    const [a, b] = [randomUUID(), randomUUID()];
    expect((await backend.tryAcquire({ key, token: a, ttlMs: TTL_MS })).status).toBe('acquired');
    await sleep(TTL_MS + 1_000);
    expect(await backend.inspect(key)).toMatchObject({ held: false, state: 'expired' });
    const outcome = await backend.renew({ key, token: b }, TTL_MS);
    expect(outcome.status).toBe('lost');
    // Whatever the emulator did, the key is free now: nobody is left holding a revived lease.
    const next = await backend.tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS });
    expect(next.status).toBe('acquired');
  });

  it.skipIf(!isAzurite)(
    'Azurite itself renews an expired lease for any ID (what the check above guards)',
    async () => {
      const key = `raw-${randomUUID()}`;
      const blob = containerClient(container).getBlockBlobClient(key);
      await blob.upload('', 0);
      const [a, b] = [randomUUID(), randomUUID()];
      await blob.getBlobLeaseClient(a).acquireLease(15);
      await sleep(TTL_MS + 1_000);
      const renewed = await blob.getBlobLeaseClient(b).renewLease();
      expect(renewed.leaseId).toBe(a); // real Azure answers 409 LeaseIdMismatchWithLeaseOperation
      expect((await blob.getProperties()).leaseState).toBe('leased');
      await blob.getBlobLeaseClient(a).releaseLease();
    },
  );

  it('a renewal that answers after the local deadline is not trusted', async () => {
    const backend = backends.create({ connectionString: proxy.connectionString, requestTimeout: '30s' });
    const l = createLocker(backend, { ttl: TTL_MS, wait: 0 });
    const key = uniqueKey('late-renewal');
    const renewals: number[] = [];
    const lease = await l.acquire(key, { mode: 'lease' });
    const deadline = lease.expiresAt;
    // Only this key's renewals are held back (other tests share the proxy).
    const blobPath = `/${backend.blobName(key)}`;
    const original = proxy.fault;
    proxy.fault = (seen) => {
      if (seen.operation === 'renew' && decodeURIComponent(seen.path).endsWith(blobPath)) {
        renewals.push(performance.now());
        return { delayMs: 11_000 };
      }
      return original(seen);
    };
    const reason = await lostReason(lease.signal);
    expect(Date.now()).toBeLessThan(deadline);
    expect(reason.reason).toBe('renewal-failed');
    expect(renewals.length).toBeGreaterThanOrEqual(1);
    expect(lease.held).toBe(false);
    await l.close();
  });

  // The child runs this package's TypeScript as is: Node strips the types (22.18+, 23.6+).
  const nodeRunsTypeScript = Boolean((process.features as { typescript?: unknown }).typescript);
  it.skipIf(!nodeRunsTypeScript)(
    'the same key from two processes: one holds it, and when it dies the other gets it after the lease runs out',
    async () => {
      const key = uniqueKey('processes');
      const script = fileURLToPath(new URL('./fixtures/hold-lease.ts', import.meta.url));
      const hooks = fileURLToPath(new URL('./fixtures/ts-resolve.mjs', import.meta.url));
      const child = spawn(
        process.execPath,
        ['--no-warnings', '--import', hooks, script, connectionString(), container, key],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.add(child);
      const lines = createInterface({ input: child.stdout! });
      const [first] = (await once(lines, 'line')) as [string];
      const held = JSON.parse(first) as { pid: number; fence: number; token: string };
      expect(held.fence).toBeGreaterThanOrEqual(1);
      const l = locker({ fencing: true });
      expect(await l.tryAcquire(key)).toBeNull();
      expect(await l.inspect(key)).toMatchObject({ held: true, owner: `pid-${held.pid}`, fence: held.fence });
      await sleep(6_000); // it keeps the lease past a renewal
      expect(await l.tryAcquire(key)).toBeNull();
      const killedAt = performance.now();
      child.kill('SIGKILL');
      await once(child, 'exit');
      children.delete(child);
      const next = await l.acquire(key, { wait: TTL_MS + 5_000 });
      // Free only once the dead holder's last renewal ran out: not before, not much after.
      const waited = performance.now() - killedAt;
      expect(waited).toBeGreaterThan(TTL_MS / 3);
      expect(waited).toBeLessThan(TTL_MS + 5_000);
      expect(next.fence!).toBeGreaterThan(held.fence);
      await next.release();
      await l.close();
    },
  );
});
