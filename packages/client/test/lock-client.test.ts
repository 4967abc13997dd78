import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isLeaseError, type LeaseError } from '@leasekit/core';
import { getFreePort } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpBackend, createLockClient, HttpProblemError, type LockClient } from '../src/index.js';
import { type RunningService, startService } from './service.js';

const API_KEY = 'client-test-key-0123456789';
let service: RunningService;
const clients: LockClient[] = [];
const client = (options: Partial<Parameters<typeof createLockClient>[0]> = {}) => {
  const created = createLockClient({ baseUrl: service.url, apiKey: API_KEY, ...options });
  clients.push(created);
  return created;
};
const key = (label: string) => `client-test:${label}:${randomUUID()}`;
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as LeaseError,
  );

beforeAll(async () => {
  service = await startService({ apiKeys: { tenant: API_KEY } });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await service.close();
});

describe('createLockClient', () => {
  it('acquires, inspects, refreshes and releases a lock', async () => {
    const locks = client();
    const k = key('basic');
    const { lock, release } = await locks.acquire(k, { ttl: '5s', owner: 'worker-1' });
    expect(lock).toMatchObject({ key: k, ttlMs: 5_000, owner: 'worker-1' });
    expect(lock.token).toMatch(/\S{16,}/);
    expect(lock.fence).toMatch(/^\d+$/);
    expect(lock.expiresAt).toBeGreaterThan(Date.now());
    expect(lock.expiresAt).toBeLessThanOrEqual(Date.now() + 5_000);

    const info = await locks.inspect(k);
    expect(info).toMatchObject({ key: k, held: true, owner: 'worker-1', fence: lock.fence });
    expect(info!.ttlRemainingMs).toBeGreaterThan(0);
    expect(JSON.stringify(info)).not.toContain(lock.token);

    const refreshed = await locks.refresh(lock, '10s');
    expect(refreshed).toMatchObject({ key: k, token: lock.token, fence: lock.fence, ttlMs: 10_000 });
    expect(refreshed.expiresAt).toBeGreaterThan(lock.expiresAt);

    expect(await release()).toBe(true);
    expect(await release()).toBe(true); // the same settled release
    expect(await locks.inspect(k)).toBeNull();
    expect(await locks.release(lock)).toBe(false); // 410: no longer held
  });

  it('fences strictly increase across holders, as decimal strings', async () => {
    const [a, b] = [client(), client()];
    const k = key('fence');
    let last = 0n;
    for (let i = 0; i < 4; i++) {
      const { lock, release } = await (i % 2 ? a : b).acquire(k);
      expect(BigInt(lock.fence!)).toBeGreaterThan(last);
      last = BigInt(lock.fence!);
      await release();
    }
  });

  it('a second acquire with wait gets the key once the first releases it', async () => {
    const [a, b] = [client(), client()];
    const k = key('wait');
    const first = await a.acquire(k, { ttl: '10s' });
    let got = false;
    const second = b.acquire(k, { ttl: '10s', wait: '10s' }).then((acquired) => {
      got = true;
      return acquired;
    });
    await sleep(100);
    expect(got).toBe(false); // still waiting (on the server)
    expect(await first.release()).toBe(true);
    const { lock, release } = await second;
    expect(BigInt(lock.fence!)).toBeGreaterThan(BigInt(first.lock.fence!));
    await release();
  });

  it('gives up with ACQUIRE_TIMEOUT after the wait', async () => {
    const [a, b] = [client(), client()];
    const k = key('timeout');
    const held = await a.acquire(k, { ttl: '10s' });
    const error = await failure(b.acquire(k, { wait: 200 }));
    expect(isLeaseError(error, 'ACQUIRE_TIMEOUT')).toBe(true);
    expect(error.message).toContain(k);
    // Without a wait: one attempt, the same error.
    expect(isLeaseError(await failure(b.acquire(k)), 'ACQUIRE_TIMEOUT')).toBe(true);
    await held.release();
  });

  it("a waiter gets the key when the holder's TTL runs out, within its wait", async () => {
    const [a, b] = [client(), client({ backoff: { initial: '10ms', max: '40ms', maxJitter: '5ms' } })];
    const k = key('backoff');
    const held = await a.acquire(k, { ttl: '300ms' });
    // The holder never releases: the key frees when its TTL runs out, and the waiter gets it.
    const { lock, release } = await b.acquire(k, { wait: '5s' });
    expect(BigInt(lock.fence!)).toBeGreaterThan(BigInt(held.lock.fence!));
    await release();
  });

  it('an abort stops the wait with the signal reason and leaves nothing locked', async () => {
    const [a, b] = [client(), client()];
    const k = key('abort');
    const held = await a.acquire(k, { ttl: '10s' });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const waiting = b.acquire(k, { wait: '20s', signal: controller.signal });
    setTimeout(() => controller.abort(reason), 100);
    await expect(waiting).rejects.toBe(reason);
    await held.release();
    await sleep(50);
    const after = await a.acquire(k);
    await after.release();
  });

  it('refresh of a lock that is no longer held rejects with LEASE_LOST (410)', async () => {
    const locks = client();
    const k = key('lost');
    const { lock, release } = await locks.acquire(k);
    await release();
    const error = await failure(locks.refresh(lock));
    expect(isLeaseError(error, 'LEASE_LOST')).toBe(true);
    expect(error.cause).toBeInstanceOf(HttpProblemError);
    expect((error.cause as HttpProblemError).status).toBe(410);
    expect((error.cause as HttpProblemError).requestId).toMatch(/\S+/);
  });

  it('a missing or unknown API key is UNAUTHORIZED, not retryable', async () => {
    for (const apiKey of [undefined, 'not-a-known-key']) {
      const locks = client({ apiKey });
      const error = await failure(locks.acquire(key('auth')));
      expect(isLeaseError(error, 'UNAUTHORIZED')).toBe(true);
      expect(error.retryable).toBe(false);
      expect((error.cause as HttpProblemError).status).toBe(401);
    }
    const backendError = await failure(createHttpBackend({ baseUrl: service.url, apiKey: 'wrong' }));
    expect(isLeaseError(backendError, 'UNAUTHORIZED')).toBe(true);
  });

  it('an unreachable service is BACKEND_UNAVAILABLE, retryable, with the network error as cause', async () => {
    const port = await getFreePort();
    const locks = client({ baseUrl: `http://127.0.0.1:${port}`, timeout: '2s' });
    const error = await failure(locks.acquire(key('down'), { wait: 300 }));
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.cause).toBeInstanceOf(Error);
    const backendError = await failure(createHttpBackend({ baseUrl: `http://127.0.0.1:${port}` }));
    expect(isLeaseError(backendError, 'BACKEND_UNAVAILABLE')).toBe(true);
  });

  it('a service whose store is down answers 503: BACKEND_UNAVAILABLE, retryable, the problem as cause', async () => {
    // The real service over a Redis node that is not there.
    const down = await startService({
      apiKeys: { tenant: API_KEY },
      env: { LEASEKIT_BACKEND: 'redis', LEASEKIT_REDIS_URLS: `redis://127.0.0.1:${await getFreePort()}` },
    });
    try {
      const locks = client({ baseUrl: down.url });
      const error = await failure(locks.acquire(key('store-down')));
      expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
      expect(error.retryable).toBe(true);
      const cause = error.cause as HttpProblemError;
      expect(cause).toBeInstanceOf(HttpProblemError);
      expect(cause.status).toBe(503);
      expect(cause.problem?.code).toMatch(/^(BACKEND_UNAVAILABLE|QUORUM_NOT_REACHED)$/);
    } finally {
      await down.close();
    }
  });

  describe('bad options are refused before any I/O', () => {
    // Nothing listens there: an option that reached the network would fail with BACKEND_UNAVAILABLE.
    let nowhere: string;
    beforeAll(async () => {
      nowhere = `http://127.0.0.1:${await getFreePort()}`;
    });

    it.each([
      ['a baseUrl that is not a URL', { baseUrl: 'not a url' }],
      ['a baseUrl that is not http(s)', { baseUrl: 'ftp://example.com' }],
      ['a baseUrl with credentials', { baseUrl: 'http://user:pw@example.com' }],
      ['a zero timeout', { timeout: 0 }],
      ['a negative timeout', { timeout: -5 }],
      ['a malformed timeout', { timeout: 'soon' }],
      ['an empty apiKey', { apiKey: '' }],
      ['an apiKey with spaces', { apiKey: 'a b' }],
      ['connections of 0', { connections: 0 }],
      ['a backoff whose max is below initial', { backoff: { initial: '1s', max: '10ms' } }],
      ['a zero initial backoff', { backoff: { initial: 0 } }],
    ])('createLockClient: %s', (_label, options) => {
      let error: unknown;
      try {
        createLockClient({ baseUrl: nowhere, ...options } as never);
      } catch (thrown) {
        error = thrown;
      }
      expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(/must/);
    });

    it.each([
      ['a baseUrl that is not http(s)', { baseUrl: 'file:///tmp' }],
      ['a negative timeout', { timeout: -1 }],
      ['a malformed maxServerWait', { maxServerWait: 'a while' }],
    ])('createHttpBackend: %s', async (_label, options) => {
      const error = await failure(createHttpBackend({ baseUrl: nowhere, ...options } as never));
      expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect(error.message).toMatch(/must/);
    });

    it.each([
      ['an empty key', '', {}],
      ['a key with a slash', 'a/b', {}],
      ['an over-long key', 'k'.repeat(201), {}],
      ['a negative ttl', 'ok', { ttl: -1 }],
      ['a zero ttl', 'ok', { ttl: 0 }],
      ['a malformed wait', 'ok', { wait: 'forever' }],
      ['a signal that is not an AbortSignal', 'ok', { signal: {} }],
      ['an unknown mode', 'ok', { mode: 'forever' }],
    ])('acquire: %s', async (_label, badKey, options) => {
      const locks = client({ baseUrl: nowhere });
      const error = await failure(locks.acquire(badKey, options as never));
      expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect(error.message).toMatch(/must/);
    });
  });
});
