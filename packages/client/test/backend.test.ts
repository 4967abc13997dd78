import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AcquireRequest, createLocker, isLeaseError } from '@leasekit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpBackend, type HttpBackend } from '../src/index.js';
import { type RunningService, startService } from './service.js';

let service: RunningService;
const backends: HttpBackend[] = [];
const newBackend = async () => {
  const backend = await createHttpBackend({ baseUrl: service.url });
  backends.push(backend);
  return backend;
};
const key = (label: string) => `backend-test:${label}:${randomUUID()}`;
const request = (k: string, extra: Partial<AcquireRequest> & { signal?: AbortSignal } = {}) =>
  ({ key: k, token: randomUUID(), ttlMs: 10_000, ...extra }) as AcquireRequest;

beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await Promise.all(backends.map((backend) => backend.close()));
  await service.close();
});

describe('createHttpBackend', () => {
  it("reads the service's capabilities: TTL range, fencing, key length", async () => {
    const backend = await newBackend();
    expect(backend.name).toBe('http');
    expect(backend.service).toMatchObject({ backend: 'memory', fencing: true, idempotency: true });
    expect(backend.service.waiting).toEqual({ serverSide: true, maxWaitMs: 30_000 });
    expect(backend.capabilities).toMatchObject({
      fencing: true,
      minTtlMs: backend.service.minTtlMs,
      maxTtlMs: backend.service.maxTtlMs,
      infiniteTtl: false,
      maxKeyLength: 200,
    });
    // Given the capabilities, a backend is made without asking the service again.
    const again = await createHttpBackend({ baseUrl: service.url, capabilities: backend.service });
    backends.push(again);
    expect(again.capabilities).toEqual(backend.capabilities);
  });

  it("declares the store's maxRenewFraction, which the locker then enforces", async () => {
    const backend = await createHttpBackend({
      baseUrl: service.url,
      capabilities: { ...backends[0]!.service, maxRenewFraction: 0.5 },
    });
    backends.push(backend);
    expect(backend.capabilities.maxRenewFraction).toBe(0.5);
    expect(() => createLocker(backend, { renewFraction: 0.8 })).toThrow(/renewFraction must be at most 0.5/);
    expect(backends[0]!.capabilities.maxRenewFraction).toBeUndefined();
  });

  it('waits on the service: a held key is granted at its release, with how long the request waited', async () => {
    const [a, b] = [await newBackend(), await newBackend()];
    const k = key('wait');
    const first = request(k);
    expect(await a.tryAcquire(first)).toMatchObject({ status: 'acquired' });
    const waiting = b.tryAcquire(request(k, { waitMs: 10_000 }));
    await sleep(100);
    expect(await a.release(first)).toBe(true);
    const outcome = await waiting;
    expect(outcome.status).toBe('acquired');
    expect((outcome as { waitedMs?: number }).waitedMs).toBeGreaterThan(0);
  });

  it('a 409 after a wait served by the service says to ask again at once', async () => {
    const [a, b] = [await newBackend(), await newBackend()];
    const k = key('held');
    expect(await a.tryAcquire(request(k))).toMatchObject({ status: 'acquired' });
    expect(await b.tryAcquire(request(k, { waitMs: 50 }))).toEqual({ status: 'held', retryAfterMs: 0 });
    const immediate = await b.tryAcquire(request(k));
    expect(immediate.status).toBe('held');
    expect((immediate as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(0);
  });

  it("an aborted request's wait on the service ends: the next release does not hand it the key", async () => {
    const [a, b] = [await newBackend(), await newBackend()];
    const k = key('abort');
    const first = request(k);
    await a.tryAcquire(first);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const waiting = b.tryAcquire(request(k, { waitMs: 10_000, signal: controller.signal }));
    await sleep(100);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await sleep(50); // the service sees the closed connection
    expect(await a.release(first)).toBe(true);
    expect(await a.tryAcquire(request(k))).toMatchObject({ status: 'acquired' });
  });

  it('close() ends a wait in flight with CLOSED and refuses new work', async () => {
    const [a, b] = [await newBackend(), await newBackend()];
    const k = key('close');
    await a.tryAcquire(request(k));
    const waiting = b.tryAcquire(request(k, { waitMs: 10_000 })).catch((error: unknown) => error);
    await sleep(100);
    await b.close();
    expect(isLeaseError(await waiting, 'CLOSED')).toBe(true);
    await expect(b.inspect(k)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('renews and releases by key and token a holding another backend acquired, keeping no state', async () => {
    const [a, b] = [await newBackend(), await newBackend()];
    const k = key('stateless');
    const first = request(k);
    const granted = await a.tryAcquire(first);
    expect(granted.status).toBe('acquired');
    const fence = granted.status === 'acquired' ? granted.fence : undefined;
    const ref = { key: k, token: first.token, fence };
    const renewed = await b.renew(ref, 20_000);
    expect(renewed.status).toBe('renewed');
    expect((renewed as { validUntil?: number }).validUntil).toBeGreaterThan(performance.now() + 10_000);
    expect(await b.release(ref)).toBe(true);
    expect(await a.release(ref)).toBe(false);
    expect(await a.renew(ref, 1_000)).toMatchObject({ status: 'lost' });
  });

  it("renews and releases a holding under a caller's short token (hashed into a long enough Idempotency-Key)", async () => {
    const backend = await newBackend();
    const k = key('short-token');
    const ref = { key: k, token: 'job-7' };
    const granted = await backend.tryAcquire(request(k, { token: ref.token }));
    expect(granted.status).toBe('acquired');
    // The service takes an Idempotency-Key as a credential only from 16 characters on.
    expect(await backend.renew(ref, 20_000)).toMatchObject({ status: 'renewed' });
    expect(await backend.release(ref)).toBe(true);
  });

  it('renew and release of a holding nobody holds: lost / false', async () => {
    const backend = await newBackend();
    const ref = { key: key('unknown'), token: randomUUID() };
    expect(await backend.renew(ref, 1_000)).toMatchObject({ status: 'lost' });
    expect(await backend.release(ref)).toBe(false);
  });

  it('refuses keys the service would refuse, before any I/O', () => {
    const backend = backends[0]!;
    expect(() => backend.validateKey('a/b', 'acquire')).toThrow(/A-Z a-z 0-9/);
    expect(() => backend.validateKey('orders:42', 'acquire')).not.toThrow();
  });
});
