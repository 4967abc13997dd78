import { beforeEach, describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, type LeaseLostError } from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

const TTL = 3_000;
const DRIFT = TTL * 0.01 + 2; // the default clock drift allowance
const MARGIN = TTL * 0.05; // the default loss margin for this TTL

const locker = useLockers({ ttl: TTL, wait: 0 });

beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'],
  });
});

function renewTimes(backend: ScriptedBackend): number[] {
  return backend.calls
    .filter((call) => call.op === 'renew' || call.op === 'renewMany')
    .map((call) => call.at);
}

describe('renewal timing', () => {
  it('renews at the configured fraction of the TTL, counted from when each request left', async () => {
    const backend = new ScriptedBackend();
    const start = performance.now();
    const lease = await locker(backend).acquire('k', { mode: 'lease' });
    await vi.advanceTimersByTimeAsync(TTL * 3);
    expect(
      renewTimes(backend)
        .slice(0, 4)
        .map((at) => at - start),
    ).toEqual([1_000, 2_000, 3_000, 4_000]);
    expect(lease.held).toBe(true);
  });

  it('honours renewFraction', async () => {
    const backend = new ScriptedBackend();
    const start = performance.now();
    await locker(backend, { renewFraction: 0.5 }).acquire('k', { mode: 'lease' });
    await vi.advanceTimersByTimeAsync(TTL * 2);
    expect(
      renewTimes(backend)
        .slice(0, 3)
        .map((at) => at - start),
    ).toEqual([1_500, 3_000, 4_500]);
  });

  it('counts validity from before the acquire request was sent, minus drift', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 500;
    const sent = performance.now();
    const pending = locker(backend).acquire('k', { mode: 'lease' });
    await vi.advanceTimersByTimeAsync(500);
    const lease = await pending;
    expect(performance.now() - sent).toBe(500);
    expect(lease.remainingMs).toBeCloseTo(TTL - DRIFT - 500, 5);
    expect(lease.expiresAt).toBeCloseTo(Date.now() + TTL - DRIFT - 500, 5);
    await vi.advanceTimersByTimeAsync(600);
    expect(renewTimes(backend).map((at) => at - sent)).toEqual([1_000]);
  });

  it('never renews a timeout lock, and signals it as expired before the deadline', async () => {
    const backend = new ScriptedBackend();
    const lease = await locker(backend).acquire('k', { mode: 'timeout' });
    const deadline = lease.expiresAt;
    let abortedAt = 0;
    lease.signal.addEventListener('abort', () => {
      abortedAt = Date.now();
    });
    await vi.advanceTimersByTimeAsync(TTL);
    expect(backend.count('renew')).toBe(0);
    expect(abortedAt).toBe(deadline - MARGIN);
    expect((lease.signal.reason as LeaseLostError).reason).toBe('expired');
  });

  it('renew() extends a timeout lock from when the renewal was sent', async () => {
    const backend = new ScriptedBackend();
    const lease = await locker(backend).acquire('k', { mode: 'timeout' });
    await vi.advanceTimersByTimeAsync(2_000);
    await lease.renew('10s');
    expect(lease.remainingMs).toBeCloseTo(10_000 - (10_000 * 0.01 + 2), 5);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(lease.held).toBe(true);
    expect(backend.calls.at(-1)).toMatchObject({ op: 'renew', ttlMs: 10_000 });
  });
});

describe('loss before the deadline', () => {
  it('retries failing renewals with backoff, then declares loss before the local deadline', async () => {
    const backend = new ScriptedBackend();
    backend.renewScript = new BackendUnavailableError('store down', { backend: 'scripted' });
    const renewFailed: number[] = [];
    const lease = await locker(backend, {
      hooks: { renewFailed: (e) => renewFailed.push(e.remainingMs) },
    }).acquire('k', { mode: 'lease' });
    const deadline = lease.expiresAt;
    let abortedAt = 0;
    lease.signal.addEventListener('abort', () => {
      abortedAt = Date.now();
    });
    await vi.advanceTimersByTimeAsync(TTL);
    expect(abortedAt).toBeGreaterThan(0);
    expect(abortedAt).toBeLessThan(deadline);
    expect(abortedAt).toBe(deadline - MARGIN);
    const reason = lease.signal.reason as LeaseLostError;
    expect(reason.code).toBe('LEASE_LOST');
    expect(reason.reason).toBe('renewal-failed');
    // Several retries between the first renewal (at TTL/3) and the loss point, each bounded.
    const times = renewTimes(backend);
    expect(times.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(TTL / 10);
    expect(renewFailed.length).toBe(times.length);
    // After giving up it tries to free the key for others (compare-and-delete is safe).
    expect(backend.count('release')).toBe(1);
  });

  it('declares loss on time even while a renewal hangs', async () => {
    const backend = new ScriptedBackend();
    backend.renewScript = 'hang';
    const lease = await locker(backend).acquire('k', { mode: 'lease' });
    const deadline = lease.expiresAt;
    await vi.advanceTimersByTimeAsync(TTL - MARGIN - DRIFT - 1);
    expect(lease.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.signal.aborted).toBe(true);
    expect(Date.now()).toBeLessThan(deadline);
    expect(backend.count('renew')).toBe(1);
  });

  it('does not trust a renewal that answers after the loss point', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 0;
    const lease = await locker(backend).acquire('k', { mode: 'lease' });
    backend.latencyMs = 2_500; // the renewal sent at 1 s answers at 3.5 s, after the deadline
    await vi.advanceTimersByTimeAsync(TTL + 1_000);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.held).toBe(false);
    expect(backend.count('renew')).toBe(1);
  });

  it('a renewal the store refuses is a loss at once ("taken")', async () => {
    const backend = new ScriptedBackend();
    backend.renewScript = { status: 'lost', detail: 'token mismatch' };
    const lost: string[] = [];
    const lease = await locker(backend, { hooks: { lost: (e) => lost.push(e.error.reason) } }).acquire('k', {
      mode: 'lease',
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lease.signal.aborted).toBe(true);
    expect((lease.signal.reason as LeaseLostError).reason).toBe('taken');
    expect((lease.signal.reason as Error).message).toContain('token mismatch');
    expect(lost).toEqual(['taken']);
  });

  it('held reads the monotonic clock, not only the timer', async () => {
    const backend = new ScriptedBackend();
    const lease = await locker(backend).acquire('k', { mode: 'timeout' });
    vi.setSystemTime(Date.now()); // keep Date; only move performance.now() below
    const now = performance.now();
    vi.spyOn(performance, 'now').mockReturnValue(now + TTL);
    expect(lease.held).toBe(false);
    expect(lease.signal.aborted).toBe(true);
    vi.mocked(performance.now).mockRestore();
  });
});

describe('one scheduler for every lease', () => {
  it('batches due renewals into one renewMany and keeps a single timer', async () => {
    const backend = new ScriptedBackend({ renewMany: true });
    const l = locker(backend);
    const leases = await Promise.all(
      Array.from({ length: 500 }, (_, i) => l.acquire(`k${i}`, { mode: 'lease' })),
    );
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    const batches = backend.calls.filter((call) => call.op === 'renewMany');
    expect(batches).toHaveLength(1);
    expect(batches[0]!.batch).toBe(500);
    expect(backend.count('renew')).toBe(0);
    await Promise.all(leases.map((lease) => lease.release()));
    // The timers left (unreferenced: see deadlines.test.ts) run out without calling the store.
    const calls = backend.calls.length;
    await vi.runAllTimersAsync();
    expect(vi.getTimerCount()).toBe(0);
    expect(backend.calls).toHaveLength(calls);
  });

  it('leases acquired at different times renew on their own schedules', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const start = performance.now();
    await l.acquire('a', { mode: 'lease' });
    await vi.advanceTimersByTimeAsync(400);
    await l.acquire('b', { mode: 'lease', ttl: '6s' });
    await vi.advanceTimersByTimeAsync(2_000);
    const byKey = (key: string) =>
      backend.calls.filter((c) => c.op === 'renew' && c.key === key).map((c) => c.at - start);
    expect(byKey('a')).toEqual([1_000, 2_000]);
    expect(byKey('b')).toEqual([2_400]);
  });
});

describe('acquire with wait', () => {
  it('retries with bounded exponential backoff and gives up at the wait', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = { status: 'held' };
    const start = performance.now();
    const rejected = locker(backend, { retry: { initial: '20ms', max: '200ms' } })
      .acquire('k', { wait: '2s' })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2_000);
    const error = (await rejected) as Error & { code: string; attempts: number };
    expect(error.code).toBe('ACQUIRE_TIMEOUT');
    expect(performance.now() - start).toBe(2_000);
    const times = backend.calls.map((call) => call.at - start);
    expect(error.attempts).toBe(times.length);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i]! - times[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(0);
      expect(gap).toBeLessThanOrEqual(Math.min(200, 20 * 2 ** (i - 1)));
    }
  });

  it('an abort while a request is in flight returns at once and releases a late grant', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 1_000;
    const controller = new AbortController();
    const pending = locker(backend)
      .acquire('k', { signal: controller.signal })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort(new Error('stop'));
    expect(((await pending) as Error).message).toBe('stop');
    expect(backend.count('release')).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000); // the grant lands...
    expect(backend.count('release')).toBe(1); // ...and is given back
  });

  it('a grant whose round trip ate the validity is given back and retried', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 2_950;
    const pending = locker(backend).acquire('k', { wait: '10s' });
    await vi.advanceTimersByTimeAsync(1);
    backend.latencyMs = 10; // later attempts (and the give-back) are quick
    await vi.advanceTimersByTimeAsync(2_960);
    expect(backend.count('release')).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(backend.count('acquire')).toBe(2);
    const lease = await pending;
    expect(lease.held).toBe(true);
  });
});
