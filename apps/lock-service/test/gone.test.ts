import { createLocker } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import { afterAll, describe, expect, it } from 'vitest';
import { LockService } from '../src/lock-service.js';
import { ServiceMetrics } from '../src/metrics.js';
import { decodeLeaseToken } from '../src/tokens.js';

// A grant that cannot reach its client (it left as the answer was written) is given back at
// once. Over HTTP the client's leaving is usually seen during the wait (routes.test.ts); the
// moment after the grant is driven here through the service's own `gone` signal.

const backend = createMemoryBackend();
const metrics = new ServiceMetrics();
const locker = createLocker(backend, { mode: 'timeout', sharedHoldings: true, closeBackend: false });
const service = new LockService(locker, backend, 'x'.repeat(32), metrics);
afterAll(() => backend.close());

const input = (key: string, gone: AbortSignal, waitMs = 0, idempotencyKey?: string) => ({
  tenant: 'alpha',
  key,
  ttlMs: 30_000,
  waitMs,
  mode: 'timeout' as const,
  owner: null,
  metadata: null,
  idempotencyKey,
  gone,
  shutdown: new AbortController().signal,
  elapsedMs: () => 0,
});

describe('a client that goes away', () => {
  it('has the grant it could not receive given back', async () => {
    const left = new AbortController();
    const granted = await service.acquire(input('given-back', left.signal));
    expect(granted.kind).toBe('granted');
    expect((await locker.inspect('alpha/given-back'))?.held).toBe(true);
    left.abort(new Error('the client went away'));
    const next = await service.acquire(input('given-back', new AbortController().signal, 2_000));
    expect(next.kind).toBe('granted');
    expect((await metrics.registry.getSingleMetric('leasekit_acquires_total')?.get())?.values).toContainEqual(
      expect.objectContaining({ labels: { outcome: 'abandoned' }, value: 1 }),
    );
  });

  it('gets no grant when it left before the answer, and leaves the key free', async () => {
    const holder = await service.acquire(input('left-early', new AbortController().signal));
    expect(holder.kind).toBe('granted');
    const left = new AbortController();
    const waiting = service.acquire(input('left-early', left.signal, 20_000));
    left.abort(new Error('the client went away'));
    expect(await waiting).toEqual({ kind: 'gone' });
    expect(
      holder.kind === 'granted' &&
        (await service.release('alpha', 'left-early', { leaseToken: decodeLeaseToken(holder.token)! })),
    ).toBe(true);
    expect((await locker.inspect('alpha/left-early'))?.held ?? false).toBe(false);
  });

  it('keeps a grant made under an Idempotency-Key: the retry holds that very holding', async () => {
    const left = new AbortController();
    const first = await service.acquire(input('kept', left.signal, 0, 'retry-me-0123456789'));
    expect(first.kind).toBe('granted');
    // The client gives up on its first attempt and retries (here, or on another instance): the
    // store answers the retry with the same holding.
    const retry = await service.acquire(
      input('kept', new AbortController().signal, 0, 'retry-me-0123456789'),
    );
    expect(retry).toMatchObject({ kind: 'granted', token: first.kind === 'granted' ? first.token : '' });
    // The first attempt's connection ends only now: giving its grant back would delete the retry's lock.
    left.abort(new Error('the client went away'));
    await new Promise((resolve) => setImmediate(resolve));
    expect((await locker.inspect('alpha/kept'))?.held).toBe(true);
    const other = await service.acquire(input('kept', new AbortController().signal));
    expect(other.kind).toBe('held');
    expect(
      retry.kind === 'granted' &&
        (await service.release('alpha', 'kept', { leaseToken: decodeLeaseToken(retry.token)! })),
    ).toBe(true);
    expect((await metrics.registry.getSingleMetric('leasekit_acquires_total')?.get())?.values).toContainEqual(
      expect.objectContaining({ labels: { outcome: 'abandoned_kept' }, value: 1 }),
    );
  });
});
