import { describe, expect, it } from 'vitest';
import { isLeaseError } from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

const locker = useLockers({ ttl: '10s', wait: 0 });

describe('holdings known only by key and token', () => {
  it('renewHolding of a holding taken elsewhere goes to the store and counts validity from its send time', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const before = Date.now();
    const renewed = await l.renewHolding({ key: 'k', token: 'elsewhere', fence: 7 }, { ttl: '2s' });
    expect(backend.calls.at(-1)).toMatchObject({
      op: 'renew',
      key: 'k',
      token: 'elsewhere',
      ttlMs: 2000,
      fence: 7,
    });
    expect(renewed).toMatchObject({ key: 'k', fence: 7, ttlMs: 2000 });
    // Not later than the store's expiry (2 s from the send, less the drift allowance).
    expect(renewed.expiresAt).toBeLessThanOrEqual(Date.now() + 2000);
    expect(renewed.expiresAt).toBeGreaterThan(before + 1500);
  });

  it("renewHolding of this locker's own lease renews that lease", async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const lease = await l.acquire('k', { ttl: '1s' });
    const renewed = await l.renewHolding({ key: 'k', token: lease.token }, { ttl: '5s' });
    expect(renewed.fence).toBe(lease.fence);
    expect(lease.remainingMs).toBeGreaterThan(4000);
    expect(Math.abs(renewed.expiresAt - lease.expiresAt)).toBeLessThan(5);
  });

  it('renewHolding rejects with LEASE_LOST when the store says the token no longer holds the key', async () => {
    const backend = new ScriptedBackend();
    backend.renewScript = { status: 'lost', detail: 'held by another token' };
    const l = locker(backend);
    const error = await l.renewHolding({ key: 'k', token: 't' }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'LEASE_LOST')).toBe(true);
  });

  it("releaseHolding of a holding taken elsewhere releases it in the store and wakes this locker's waiter", async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = (call) => (call === 1 ? { status: 'held' } : { status: 'acquired', fence: 2 });
    const l = locker(backend, { retry: { initial: '1h', max: '1h' } });
    const waiting = l.acquire('k', { wait: '30s' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.count('acquire')).toBe(1);
    expect(await l.releaseHolding({ key: 'k', token: 'elsewhere' })).toBe(true);
    const lease = await waiting;
    expect(lease.fence).toBe(2);
    expect(backend.calls.find((call) => call.op === 'release')).toMatchObject({
      key: 'k',
      token: 'elsewhere',
    });
  });

  it("releaseHolding of this locker's own lease releases that lease", async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const lease = await l.acquire('k');
    expect(await l.releaseHolding({ key: 'k', token: lease.token })).toBe(true);
    expect(lease.held).toBe(false);
    expect(l.heldCount).toBe(0);
  });

  it('refuses a bad key, token or fence before any I/O', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    for (const ref of [
      { key: '', token: 't' },
      { key: 'k', token: '' },
      { key: 'k', token: 'x'.repeat(257) },
      { key: 'k', token: 't', fence: 1.5 },
      null,
    ]) {
      const renew = await l.renewHolding(ref as never).catch((e: unknown) => e);
      const release = await l.releaseHolding(ref as never).catch((e: unknown) => e);
      expect(isLeaseError(renew, 'INVALID_ARGUMENT')).toBe(true);
      expect(isLeaseError(release, 'INVALID_ARGUMENT')).toBe(true);
    }
    expect(
      isLeaseError(
        await l.renewHolding({ key: 'k', token: 't' }, { ttl: -1 }).catch((e: unknown) => e),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(backend.calls).toEqual([]);
  });
});

describe('acquire options for stores that wait', () => {
  it('uses the given token and passes what is left of the wait as waitMs', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = (call) =>
      call === 1 ? { status: 'held', retryAfterMs: 1 } : { status: 'acquired', fence: 1 };
    const l = locker(backend);
    const lease = await l.acquire('k', { wait: '5s', token: 'idempotent-1' });
    expect(lease.token).toBe('idempotent-1');
    const [first, second] = backend.calls.filter((call) => call.op === 'acquire');
    expect(first).toMatchObject({ token: 'idempotent-1' });
    expect(first!.waitMs).toBeGreaterThan(4900);
    expect(first!.waitMs).toBeLessThanOrEqual(5000);
    expect(second!.waitMs).toBeLessThan(first!.waitMs!);
    expect(await l.tryAcquire('other')).not.toBeNull();
    expect(backend.calls.at(-1)).toMatchObject({ op: 'acquire', waitMs: 0 });
  });

  it("passes the caller's abort signal to the store", async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const controller = new AbortController();
    await l.acquire('k', { signal: controller.signal });
    expect(backend.calls.at(-1)?.signal).toBe(controller.signal);
  });

  it('refuses a bad token before any I/O', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    for (const token of ['', 42, 'x'.repeat(257)]) {
      const error = await l.acquire('k', { token: token as string }).catch((e: unknown) => e);
      expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
    }
    expect(backend.calls).toEqual([]);
  });

  it('counts validity from the grant when the store says it waited, never past the round trip', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 300;
    backend.acquireScript = { status: 'acquired', fence: 1, waitedMs: 250 };
    const waited = await locker(backend).acquire('a', { ttl: '1s' });
    // 1 s from the grant (250 ms into a 300 ms round trip): about 950 ms left, less drift.
    expect(waited.remainingMs).toBeGreaterThan(850);
    backend.acquireScript = { status: 'acquired', fence: 2, waitedMs: 60_000 };
    const capped = await locker(backend).acquire('b', { ttl: '1s' });
    // A claim longer than the round trip counts as the round trip at most.
    expect(capped.remainingMs).toBeLessThanOrEqual(1000);
    backend.acquireScript = { status: 'acquired', fence: 3 };
    const plain = await locker(backend).acquire('c', { ttl: '1s' });
    expect(plain.remainingMs).toBeLessThan(720);
  });
});

describe("a caller's own token", () => {
  it('is not given back after an abort, while a random one is', async () => {
    for (const token of ['callers-own', undefined]) {
      const backend = new ScriptedBackend();
      backend.latencyMs = 50;
      const l = locker(backend);
      const controller = new AbortController();
      const attempt = l.acquire('k', { signal: controller.signal, ...(token ? { token } : {}) });
      setTimeout(() => controller.abort(new Error('caller gave up')), 10);
      await expect(attempt).rejects.toThrow('caller gave up');
      await new Promise((resolve) => setTimeout(resolve, 150));
      // The grant landed after the abort: a random token's holding is given back; the caller's is
      // left to its holder (whose retry may hold it), or to its TTL.
      expect(backend.count('release')).toBe(token ? 0 : 1);
    }
  });

  it('is neither given back nor replaced when the round trip ate the validity', async () => {
    const backend = new ScriptedBackend();
    backend.latencyMs = 80;
    const l = locker(backend, { ttl: 50, lossMargin: 5 });
    const error = await l.acquire('k', { token: 'callers-own', wait: 0 }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(backend.count('release')).toBe(0);
    expect(backend.calls.filter((call) => call.op === 'acquire').map((call) => call.token)).toEqual([
      'callers-own',
    ]);
  });
});

describe('sharedHoldings', () => {
  it('does not track what it grants: renewals and releases by reference go to the store', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend, { sharedHoldings: true });
    const lease = await l.acquire('k', { ttl: '1s' });
    expect(l.heldCount).toBe(0);
    await l.renewHolding({ key: 'k', token: lease.token }, { ttl: '2s' });
    expect(backend.calls.at(-1)).toMatchObject({ op: 'renew', token: lease.token, ttlMs: 2000 });
    expect(await l.releaseHolding({ key: 'k', token: lease.token })).toBe(true);
    expect(backend.calls.at(-1)).toMatchObject({ op: 'release', token: lease.token });
  });

  it('refuses local hand-overs', () => {
    expect(() => locker(new ScriptedBackend(), { sharedHoldings: true, localHandOvers: 4 })).toThrow(
      /localHandOvers must be 0/,
    );
  });
});
