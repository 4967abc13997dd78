import { describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, isLeaseError, type LockerOptions } from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

// Local hand-overs on a scripted store under fake timers: the timing and fallback rules. (That a
// real store passes a holding on safely is the contract suite's `handOver` group.)
const locker = useLockers({ ttl: '1s', wait: '10s' });

/** A locker holding 'k' (fence 1) on a store with `handOver`, answering after `latencyMs`. */
async function holding(latencyMs = 0, options: LockerOptions = {}) {
  vi.useFakeTimers();
  const backend = new ScriptedBackend({ handOver: true });
  const l = locker(backend, options);
  const first = await l.acquire('k');
  backend.latencyMs = latencyMs;
  backend.acquireScript = { status: 'held' };
  return { backend, l, first };
}

describe('local hand-over', () => {
  it('asks once while the holder works, and each release passes the holding on with a fence of the block, in order', async () => {
    const { backend, l, first } = await holding(0, { localHandOvers: 3 });
    backend.handOverScript = { status: 'renewed', fence: 30 }; // the block: 28, 29, 30
    const waiters = Array.from({ length: 4 }, () => l.acquire('k'));
    await vi.advanceTimersByTimeAsync(5);
    expect(backend.calls.filter((c) => c.op === 'handOver').map((c) => c.batch)).toEqual([3]);
    let holder = first;
    const fences: (number | undefined)[] = [];
    for (const waiter of waiters.slice(0, 3)) {
      expect(await holder.release()).toBe(true);
      holder = await waiter;
      fences.push(holder.fence);
      await vi.advanceTimersByTimeAsync(5);
    }
    expect(fences).toEqual([28, 29, 30]);
    expect(holder.token).toBe(first.token);
    expect([backend.count('acquire'), backend.count('release'), backend.count('handOver')]).toEqual([
      1, 0, 1,
    ]);
    // The budget is spent: the fourth waiter takes the key through the store.
    backend.acquireScript = { status: 'acquired', fence: 31 };
    await holder.release();
    await vi.advanceTimersByTimeAsync(5);
    expect((await waiters[3]!).fence).toBe(31);
    expect([backend.count('acquire'), backend.count('release')]).toEqual([2, 1]);
  });

  it("keeps a new holder's acquire when asking for the next hand-over throws: the next waiter meets the error", async () => {
    const { backend, l, first } = await holding(0, { localHandOvers: 1 });
    backend.handOverScript = { status: 'renewed', fence: 2 };
    const second = l.acquire('k');
    const third = l.acquire('k').then(
      () => 'acquired',
      (error: Error) => error.message,
    );
    await vi.advanceTimersByTimeAsync(5);
    // The hand-over to `second` is prepared; the one to `third` is asked as `second` takes the key.
    Object.defineProperty(backend, 'handOver', {
      get() {
        throw new Error('handOver unavailable');
      },
    });
    expect(await first.release()).toBe(true);
    expect((await second).fence).toBe(2);
    await vi.advanceTimersByTimeAsync(5);
    expect(await third).toBe('handOver unavailable');
  });

  it('goes on past the block while the store says nobody else waits: the last holder asks for the next block', async () => {
    const { backend, l, first } = await holding(0, { localHandOvers: 2 });
    // Each request draws 2 fences above the last: blocks 2-3, 4-5, 6-7.
    backend.handOverScript = (call) => ({ status: 'renewed', fence: 1 + 2 * call, contended: false });
    const waiters = Array.from({ length: 6 }, () => l.acquire('k'));
    await vi.advanceTimersByTimeAsync(5);
    let holder = first;
    const fences: (number | undefined)[] = [];
    for (const waiter of waiters) {
      expect(await holder.release()).toBe(true);
      holder = await waiter;
      fences.push(holder.fence);
      await vi.advanceTimersByTimeAsync(5); // the next block's request, asked by the block's last holder, answered
    }
    expect(fences).toEqual([2, 3, 4, 5, 6, 7]);
    expect(holder.token).toBe(first.token);
    expect([backend.count('acquire'), backend.count('release'), backend.count('handOver')]).toEqual([
      1, 0, 3,
    ]);
    expect(await holder.release()).toBe(true); // nobody waits: back to the store
    expect(backend.count('release')).toBe(1);
  });

  it('pauses for waiters elsewhere when the next block’s request failed: the store’s last word is unknown', async () => {
    const { backend, l, first } = await holding(10, { localHandOvers: 1 });
    backend.handOverScript = (call) =>
      call === 1 ? { status: 'renewed', fence: 2, contended: false } : new Error('store down');
    const second = l.acquire('k');
    const third = l.acquire('k');
    await vi.advanceTimersByTimeAsync(20);
    await first.release();
    const holder = await second;
    await vi.advanceTimersByTimeAsync(20); // the next block's request failed
    expect(backend.count('handOver')).toBe(2);
    backend.acquireScript = { status: 'acquired', fence: 3 };
    const releasedAt = performance.now();
    void holder.release();
    await vi.advanceTimersByTimeAsync(19);
    expect(backend.count('acquire')).toBe(1); // answered at 10 ms, then the pause
    await vi.advanceTimersByTimeAsync(1);
    expect(backend.count('acquire')).toBe(2);
    expect(
      backend.calls.filter((call) => call.op === 'acquire').at(-1)!.at - releasedAt,
    ).toBeGreaterThanOrEqual(20);
    await vi.advanceTimersByTimeAsync(10);
    expect((await third).fence).toBe(3);
  });

  it.each<[boolean | undefined, string]>([
    [true, 'somebody else waits now'],
    [undefined, 'the store cannot tell'],
  ])(
    'ends the run at the block when the next block’s answer says %s (%s): the key goes back to the store, and the next local waiter yields a round trip',
    async (contended) => {
      const { backend, l, first } = await holding(10, { localHandOvers: 1 });
      backend.handOverScript = (call) =>
        call === 1
          ? { status: 'renewed', fence: 2, contended: false }
          : { status: 'renewed', fence: 3, contended };
      const second = l.acquire('k');
      const third = l.acquire('k');
      await vi.advanceTimersByTimeAsync(20); // the first block answered: nobody else waits
      await first.release();
      const holder = await second;
      expect(holder.fence).toBe(2);
      await vi.advanceTimersByTimeAsync(20); // the next block answered: fence 3, but contended
      expect(backend.count('handOver')).toBe(2);
      backend.acquireScript = { status: 'acquired', fence: 4 };
      const releasedAt = performance.now();
      void holder.release();
      expect(backend.count('release')).toBe(1); // not handed over: released in the store
      await vi.advanceTimersByTimeAsync(19);
      expect(backend.count('acquire')).toBe(1); // the release answered at 10 ms; the pause lasts as long again
      await vi.advanceTimersByTimeAsync(1);
      const tried = backend.calls.filter((call) => call.op === 'acquire').at(-1)!;
      expect(tried.at - releasedAt).toBeGreaterThanOrEqual(20);
      await vi.advanceTimersByTimeAsync(10);
      expect((await third).fence).toBe(4);
    },
  );

  it.each<[boolean | undefined, number, string]>([
    [
      undefined,
      20,
      'one round trip after the release answered: a waiter elsewhere, woken by the hint, goes first',
    ],
    [
      true,
      20,
      'one round trip after the release answered: a waiter elsewhere, woken by the hint, goes first',
    ],
    [false, 10, 'as soon as the release answered: the store said nobody else waited'],
  ])(
    'after the last hand-over of a run (contended: %s), the next local waiter tries %i ms after the release: %s',
    async (contended, delayMs) => {
      // Uncontended, a run goes on for at most retry.max (5 ms here): this one ends at its block.
      const { backend, l, first } = await holding(10, {
        localHandOvers: 1,
        retry: { initial: '1ms', max: '5ms' },
      });
      backend.handOverScript = { status: 'renewed', fence: 2, contended };
      const second = l.acquire('k');
      const third = l.acquire('k');
      await vi.advanceTimersByTimeAsync(20); // the hand-over answered
      await first.release();
      const holder = await second;
      await vi.advanceTimersByTimeAsync(10);
      expect(backend.count('handOver')).toBe(1); // no next block: the run is older than retry.max
      backend.acquireScript = { status: 'acquired', fence: 3 };
      const releasedAt = performance.now();
      void holder.release(); // the run's last: back to the store (answered 10 ms later)
      await vi.advanceTimersByTimeAsync(delayMs - 1);
      expect(backend.count('acquire')).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      const tried = backend.calls.filter((call) => call.op === 'acquire').at(-1)!;
      expect(backend.count('acquire')).toBe(2);
      expect(tried.at - releasedAt).toBeGreaterThanOrEqual(delayMs);
      await vi.advanceTimersByTimeAsync(10);
      expect((await third).fence).toBe(3);
    },
  );

  it('a release waits for a hand-over still in flight when the next waiter can take it, then passes the holding on', async () => {
    const { backend, l, first } = await holding(20);
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const waiter = l.acquire('k');
    await vi.advanceTimersByTimeAsync(5);
    let released: boolean | undefined;
    void first.release().then((value) => {
      released = value;
    });
    await vi.advanceTimersByTimeAsync(5);
    expect(released).toBeUndefined(); // the answer is 10 ms away
    await vi.advanceTimersByTimeAsync(15);
    expect(released).toBe(true);
    const next = await waiter;
    expect(next.fence).toBe(2); // 17 - 16 + 1: the first fence of a block of 16
    expect([backend.count('acquire'), backend.count('release')]).toEqual([1, 0]);
  });

  it('does not wait for a hand-over when the waiter it was asked for left: releases in the store at once', async () => {
    const { backend, l, first } = await holding(20);
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const leaving = new AbortController();
    const gone = l.acquire('k', { signal: leaving.signal }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(5);
    leaving.abort(new Error('gave up'));
    await gone;
    let released: boolean | undefined;
    void first.release().then((value) => {
      released = value;
    });
    expect(backend.count('release')).toBe(1); // sent at once, not after the hand-over's answer
    await vi.advanceTimersByTimeAsync(20);
    expect(released).toBe(true);
  });

  it('does not wait for a hand-over that, answered, would already be too old for the waiter', async () => {
    const { backend, l, first } = await holding(200);
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const waiter = l.acquire('k').catch((error: unknown) => error); // timeout lock: 50 ms margin of 1 s
    await vi.advanceTimersByTimeAsync(60);
    void first.release();
    expect(backend.count('release')).toBe(1); // sent at once
    const closed = l.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closed;
    await waiter;
  });

  it('a release stays within releaseTimeout when the hand-over never answers: half to wait, half to release', async () => {
    const { backend, l, first } = await holding(0, { releaseTimeout: '200ms' });
    backend.handOverScript = 'hang';
    const waiter = l.acquire('k').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(5);
    backend.releaseScript = 'hang';
    const releasedAt = performance.now();
    const released = first.release().catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(200);
    expect(isLeaseError(await released, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(performance.now() - releasedAt).toBeLessThanOrEqual(200);
    expect(backend.count('release')).toBe(1); // tried in the store after waiting 100 ms
    const closed = l.close();
    await vi.advanceTimersByTimeAsync(1_000);
    await closed;
    await waiter;
  });

  it('asks no hand-over for a waiter whose TTL differs from the holding’s (it could cut the holder’s)', async () => {
    const { backend, l, first } = await holding();
    const waiter = l.acquire('k', { ttl: '500ms' });
    await vi.advanceTimersByTimeAsync(5);
    expect(backend.count('handOver')).toBe(0);
    backend.acquireScript = { status: 'acquired', fence: 2 };
    await first.release();
    await vi.advanceTimersByTimeAsync(5);
    expect((await waiter).fence).toBe(2);
  });

  it('a timeout lock that runs out after a hand-over was asked frees the key in the store (the request extended it)', async () => {
    const { backend, l, first } = await holding();
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const lost = new Promise((resolve) => first.signal.addEventListener('abort', resolve));
    const waiter = l.acquire('k').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(5);
    expect(backend.count('handOver')).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000); // past the holder's own deadline: lost, 'expired'
    await lost;
    expect(backend.count('release')).toBe(1);
    backend.acquireScript = { status: 'acquired', fence: 18 };
    await vi.advanceTimersByTimeAsync(2_000); // the waiter's next poll
    expect(await waiter).toMatchObject({ fence: 18 });
  });

  it('a holding granted as the locker closes is not returned: the waiter gets CLOSED', async () => {
    const { backend, l, first } = await holding();
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const waiter = l.acquire('k').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(5);
    void first.release(); // granted to the waiter, which has not run yet
    const closed = l.close();
    await vi.advanceTimersByTimeAsync(5);
    await closed;
    expect(isLeaseError(await waiter, 'CLOSED')).toBe(true);
    expect(backend.count('release')).toBe(1); // close() released what it had been handed
  });

  it('a lease waiter takes an extension younger than the renew interval; a timeout-lock waiter only one younger than the loss margin', async () => {
    for (const mode of ['lease', 'timeout'] as const) {
      const { backend, l, first } = await holding();
      backend.handOverScript = { status: 'renewed', fence: 17 };
      const waiter = l.acquire('k', { mode });
      await vi.advanceTimersByTimeAsync(100); // 100 ms old: under 1/3 of the 1 s TTL, over its 50 ms margin
      backend.acquireScript = { status: 'acquired', fence: 18 };
      await first.release();
      await vi.advanceTimersByTimeAsync(5);
      const next = await waiter;
      expect(next.fence).toBe(mode === 'lease' ? 2 : 18);
      await next.release();
      await l.close();
    }
  });

  it.each([
    ['the store failed', () => new BackendUnavailableError('down', { backend: 'scripted' })],
    ['the block is not above the holder’s fence', () => ({ status: 'renewed' as const, fence: 16 })],
  ])('falls back to a release and an acquire when %s', async (_label, answer) => {
    const { backend, l, first } = await holding();
    backend.handOverScript = answer();
    const waiter = l.acquire('k');
    await vi.advanceTimersByTimeAsync(5);
    backend.acquireScript = { status: 'acquired', fence: 2 };
    expect(await first.release()).toBe(true);
    await vi.advanceTimersByTimeAsync(5);
    expect((await waiter).fence).toBe(2);
    expect([backend.count('acquire'), backend.count('release'), backend.count('handOver')]).toEqual([
      2, 1, 1,
    ]);
  });

  it('does not use an extension older than the renew interval: the next holder would get less than it asked', async () => {
    const { backend, l, first } = await holding();
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const waiter = l.acquire('k');
    await vi.advanceTimersByTimeAsync(400); // a third of the 1 s TTL has passed since it was asked
    backend.acquireScript = { status: 'acquired', fence: 18 };
    await first.release();
    await vi.advanceTimersByTimeAsync(5);
    const next = await waiter;
    expect(next.fence).toBe(18);
    expect(next.remainingMs).toBeGreaterThan(900);
    expect(backend.count('release')).toBe(1);
  });

  it('close() during a pass-on releases the holding in the store before it closes the backend', async () => {
    const { backend, l, first } = await holding(20);
    backend.handOverScript = { status: 'renewed', fence: 17 };
    const order: string[] = [];
    const close = backend.close.bind(backend);
    backend.close = () => {
      order.push('close');
      return close();
    };
    const release = backend.release.bind(backend);
    backend.release = (lease) => {
      order.push('release');
      return release(lease);
    };
    const waiter = l.acquire('k').catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(1);
    const released = first.release();
    const closed = l.close();
    await vi.advanceTimersByTimeAsync(100);
    await closed;
    expect(isLeaseError(await waiter, 'CLOSED')).toBe(true);
    expect(await released).toBe(true);
    expect(order).toEqual(['release', 'close']);
  });

  it.each([-1, 1.5, 1025, '2' as unknown as number])('refuses localHandOvers %s before any I/O', (value) => {
    const backend = new ScriptedBackend({ handOver: true });
    expect(() => locker(backend, { localHandOvers: value })).toThrow(
      /localHandOvers must be a whole number from 0 to 1024/,
    );
    expect(backend.calls).toHaveLength(0);
  });
});
