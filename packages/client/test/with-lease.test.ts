import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createLocker,
  isLeaseError,
  type LeaseError,
  type LeaseLostError,
  type Locker,
} from '@leasekit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpBackend, createLockClient, type LockClient } from '../src/index.js';
import { type RunningService, startService } from './service.js';

const API_KEY = 'with-lease-test-key-0123456789';
const TTL = 400;
let service: RunningService;
let admin: LockClient;
const lockers: Locker[] = [];
// Each locker has a backend of its own: they share nothing but the service.
const newLocker = async () => {
  const backend = await createHttpBackend({ baseUrl: service.url, apiKey: API_KEY });
  const locker = createLocker(backend, { ttl: TTL });
  lockers.push(locker);
  return locker;
};
const key = (label: string) => `with-lease:${label}:${randomUUID()}`;
const lost = (signal: AbortSignal) =>
  new Promise<LeaseLostError>((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason as LeaseLostError), { once: true }),
  );

beforeAll(async () => {
  service = await startService({ apiKeys: { tenant: API_KEY } });
  admin = createLockClient({ baseUrl: service.url, apiKey: API_KEY });
});
afterAll(async () => {
  await Promise.allSettled(lockers.map((locker) => locker.close()));
  await admin.close();
  await service.close();
});

describe('createLocker(createHttpBackend(...)) through the service', () => {
  it('withLease renews in the background through a routine longer than several TTLs', async () => {
    const [locker, other] = [await newLocker(), await newLocker()];
    const k = key('renew');
    const result = await locker.withLease(k, async (signal, lease) => {
      const fence = lease.fence;
      expect(Number.isSafeInteger(fence)).toBe(true);
      await sleep(TTL * 3);
      expect(signal.aborted).toBe(false);
      expect(lease.held).toBe(true);
      expect(await other.tryAcquire(k)).toBeNull();
      expect(await admin.inspect(k)).toMatchObject({ held: true, fence: String(fence) });
      return 'done';
    });
    expect(result).toBe('done');
    expect(await admin.inspect(k)).toBeNull();
  });

  it('the loss signal fires when the lease is deleted on the server', async () => {
    const [locker, operator] = [await newLocker(), await newLocker()];
    const k = key('deleted');
    const error = await locker
      .withLease(k, async (signal, lease) => {
        // Someone with the key and token (an operator, another process) releases it on the server.
        expect(await operator.releaseHolding({ key: k, token: lease.token })).toBe(true);
        const reason = await lost(signal);
        expect(reason.code).toBe('LEASE_LOST');
        expect(reason.reason).toBe('taken');
        throw reason;
      })
      .catch((e: unknown) => e as LeaseLostError);
    expect(error.code).toBe('LEASE_LOST');
  });

  it('the loss signal fires when another client takes the key on the server', async () => {
    const [locker, operator] = [await newLocker(), await newLocker()];
    const k = key('taken');
    const lease = await locker.acquire(k, { mode: 'lease' });
    const signalled = lost(lease.signal);
    // Freed on the server (as if its TTL ran out), then taken by another client.
    expect(await operator.releaseHolding({ key: k, token: lease.token, fence: lease.fence })).toBe(true);
    const thief = await admin.acquire(k, { ttl: '10s' });
    const reason = await signalled;
    expect(reason.reason).toBe('taken');
    expect(lease.held).toBe(false);
    expect(await lease.release()).toBe(false);
    expect(await admin.inspect(k)).toMatchObject({ held: true, fence: thief.lock.fence });
    await thief.release();
  });

  it('an acquire of a key held throughout its wait gives up with ACQUIRE_TIMEOUT', async () => {
    const [a, b] = [await newLocker(), await newLocker()];
    const k = key('timeout');
    const lease = await a.acquire(k);
    const error = (await b.acquire(k, { wait: 300 }).catch((e: unknown) => e)) as LeaseError;
    expect(isLeaseError(error, 'ACQUIRE_TIMEOUT')).toBe(true);
    expect(error.message).toContain(k);
    await lease.release();
  });

  it('a waiter of one locker is served by the service when another locker releases', async () => {
    const [a, b] = [await newLocker(), await newLocker()];
    const k = key('server-wait');
    const first = await a.acquire(k);
    const waiting = b.acquire(k, { wait: '10s' });
    await sleep(100);
    await first.release();
    const second = await waiting;
    expect(second.fence!).toBeGreaterThan(first.fence!);
    await second.release();
  });
});
