import { describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, createLocker, isLeaseError } from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

// Regressions found in review: each test pins down one way a lock could be doubly held, stuck, or
// a promise could hang.

const locker = useLockers({ ttl: '1s', wait: 0 });

describe('a grant given back because its round trip ate the validity', () => {
  it('is not retried with the same token while its release may still land', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.acquireScript = (call) =>
      call === 1 ? { status: 'acquired', fence: 1 } : { status: 'acquired', fence: 2 };
    backend.latencyMs = 990; // the first grant arrives after its loss point
    backend.releaseScript = 'hang'; // and its give-back never answers
    const pending = locker(backend, { wait: '10s', releaseTimeout: '100ms' }).acquire('k');
    await vi.advanceTimersByTimeAsync(1);
    backend.latencyMs = 1;
    await vi.advanceTimersByTimeAsync(2_000);
    const lease = await pending;
    const attempts = backend.calls.filter((call) => call.op === 'acquire');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.token).not.toBe(attempts[0]!.token);
    expect(lease.token).toBe(attempts[1]!.token);
  });

  it('keeps the token (an earlier landing is recognised) once the give-back is confirmed', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.latencyMs = 990;
    const pending = locker(backend, { wait: '10s' }).acquire('k');
    await vi.advanceTimersByTimeAsync(1);
    backend.latencyMs = 1;
    await vi.advanceTimersByTimeAsync(2_000);
    await pending;
    const [first, second] = backend.calls.filter((call) => call.op === 'acquire');
    const release = backend.calls.find((call) => call.op === 'release')!;
    expect(release.at).toBeLessThan(second!.at); // the give-back was answered before the retry
    expect(second!.token).toBe(first!.token);
  });
});

describe('close()', () => {
  it('settles promptly while an attempt is in flight, even when the closed backend resolves its hint at once', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = { status: 'held' };
    backend.latencyMs = 30;
    let closed = false;
    Object.assign(backend, {
      // Like Redis and memory: after close the hint resolves immediately.
      released: (_key: string, signal: AbortSignal) =>
        closed
          ? Promise.resolve()
          : new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())),
    });
    const l = locker(backend, { retry: { initial: '5ms', max: '5ms' } });
    const waiting = l.acquire('k', { wait: '10s' }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 50)); // asleep once, then another attempt in flight
    closed = true;
    const started = performance.now();
    await l.close();
    expect(isLeaseError(await waiting, 'CLOSED')).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('lets an attempt in flight finish and gives its late grant back before closing the backend', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 50;
    const l = locker(backend);
    const pending = l.acquire('k').catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await l.close();
    expect(isLeaseError(await pending, 'CLOSED')).toBe(true);
    const ops = backend.calls.map((call) => call.op);
    expect(ops).toEqual(['acquire', 'release']);
    expect(backend.closed).toBe(true);
  });
});

describe('renewal', () => {
  it('a shorter TTL shortens the local deadline before the answer, which may be lost', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    const lease = await locker(backend, { ttl: '10s' }).acquire('k');
    backend.renewScript = new BackendUnavailableError('answer lost', { backend: 'scripted' });
    await expect(lease.renew('200ms')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(lease.remainingMs).toBeLessThanOrEqual(200);
    await vi.advanceTimersByTimeAsync(200);
    expect(lease.held).toBe(false);
  });

  it('a synchronous throw from renew() is a failed renewal, not a dead scheduler', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    const lease = await locker(backend).acquire('k', { mode: 'lease' });
    const timeoutLock = await locker(backend).acquire('t', { mode: 'timeout', ttl: '300ms' });
    backend.renew = () => {
      throw new Error('closed, synchronously');
    };
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lease.signal.aborted).toBe(true);
    expect(timeoutLock.signal.aborted).toBe(true);
  });

  it('renew() after release rejects with NOT_HOLDER', async () => {
    const lease = await locker(new ScriptedBackend()).acquire('k');
    await lease.release();
    await expect(lease.renew()).rejects.toMatchObject({ code: 'NOT_HOLDER' });
  });
});

describe('waiting', () => {
  it('a failed release still wakes the next waiter', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const lease = await l.acquire('k');
    backend.acquireScript = { status: 'held' };
    const waiting = l.acquire('k', { wait: '5s' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    backend.releaseScript = new BackendUnavailableError('answer lost', { backend: 'scripted' });
    backend.acquireScript = { status: 'acquired', fence: 2 };
    const started = performance.now();
    await expect(lease.release()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await waiting;
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('an abort that lands between an attempt and the sleep rejects at once', async () => {
    const backend = new ScriptedBackend();
    const controller = new AbortController();
    backend.acquireScript = () => {
      controller.abort(new Error('gave up'));
      return { status: 'held' };
    };
    const started = performance.now();
    await expect(locker(backend).acquire('k', { wait: '5s', signal: controller.signal })).rejects.toThrow(
      'gave up',
    );
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses a clock drift factor that is not a number in [0, 0.5)', () => {
    expect(() => createLocker(new ScriptedBackend(), { clockDrift: { factor: Number.NaN } })).toThrow(
      /clockDrift.factor must be >= 0 and < 0.5; got NaN/,
    );
  });
});
