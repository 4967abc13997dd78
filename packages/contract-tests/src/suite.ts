import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AnyBackend,
  canRenew,
  createLocker,
  isLeaseError,
  type LeaseBackend,
  type LeaseLostError,
  type Locker,
  type LockerOptions,
} from '@leasekit/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContractGroup, ContractOptions } from './options.js';
import { countCalls, withRenewalFaults } from './wrappers.js';

/**
 * Registers the whole leasekit contract suite for one backend with vitest. Call it at the top
 * level of a test file. Every test uses its own random keys, so tests are independent and can
 * run against a shared server.
 */
/** The one skipped entry a group left out by `only` registers in its file. */
export const LEFT_TO_ANOTHER_FILE = 'runs in another file (left out by `only`)';

export function runLeaseContractTests(options: ContractOptions): void {
  const caps = options.capabilities;
  const step = caps.ttlGranularityMs ?? 1;
  const roundUp = (ms: number) => Math.ceil(ms / step) * step;
  const ttlMs = options.timing?.ttlMs ?? roundUp(Math.max(caps.minTtlMs, 600));
  const timeout = options.timing?.testTimeoutMs ?? Math.max(30_000, ttlMs * 6);
  const forceExpire = options.hooks?.forceExpire;
  /** Expiry tests wait a real TTL unless the backend can force it; long TTLs make them "slow". */
  const slowSkipped = options.slow === false && ttlMs > 5_000;
  const skipped = new Set<ContractGroup>(options.skip ?? []);
  const only = options.only ? new Set<ContractGroup>(options.only) : undefined;
  const group = (name: ContractGroup, title: string, body: () => void, unsupported = false) => {
    // A group left to another file (see `only`) shows here as one skipped entry rather than
    // vanishing: the report says what this file did not run, without repeating its tests.
    if (only !== undefined && !only.has(name)) {
      describe(title, () => it.skip(LEFT_TO_ANOTHER_FILE));
      return;
    }
    describe.skipIf(skipped.has(name) || unsupported)(title, body);
  };

  const opened: AnyBackend[] = [];
  const lockers: Locker[] = [];
  const newBackend = async (): Promise<AnyBackend> => {
    const backend = await options.createBackend();
    opened.push(backend);
    return backend;
  };
  const newLocker = async (extra: LockerOptions = {}, backend?: AnyBackend): Promise<Locker> => {
    const locker = createLocker(backend ?? (await newBackend()), { ttl: ttlMs, wait: 0, ...extra });
    lockers.push(locker);
    return locker;
  };
  const key = (label: string) => `lk-test:${label}:${randomUUID()}`;
  // How long a released key may still read as held: a release is bounded (`releaseTimeout`) and
  // a slow store (Azurite on a loaded machine) applies it after its caller moved on. Well under
  // what a lease left to expire would still have, so a release never sent still fails.
  const releaseLanded = Math.round(ttlMs / 3);

  afterAll(async () => {
    await Promise.allSettled(lockers.map((locker) => locker.close()));
    await Promise.allSettled(opened.map((backend) => backend.close()));
  });

  describe(`leasekit contract: ${options.name}`, { timeout }, () => {
    group('basics', 'acquire and release', () => {
      it('declares the capabilities the backend reports', async () => {
        const backend = await newBackend();
        expect(canRenew(backend)).toBe(caps.renew);
        expect(backend.capabilities.fencing).toBe(caps.fencing);
        expect(backend.capabilities.minTtlMs).toBe(caps.minTtlMs);
        expect(backend.capabilities.maxTtlMs).toBe(caps.maxTtlMs);
        expect(typeof backend.name).toBe('string');
        expect(typeof backend.inspect === 'function').toBe(caps.inspect ?? false);
        expect(typeof backend.released === 'function').toBe(caps.releasedHint ?? false);
        expect(typeof (backend as Partial<LeaseBackend>).handOver === 'function').toBe(
          caps.handOver ?? false,
        );
      });

      it('acquires a free key, releases it, and the key is free again', async () => {
        const locker = await newLocker();
        const k = key('basic');
        const lease = await locker.acquire(k);
        expect(lease.key).toBe(k);
        expect(lease.token).toMatch(/\S{8,}/);
        expect(lease.held).toBe(true);
        expect(lease.signal.aborted).toBe(false);
        expect(lease.expiresAt).toBeGreaterThan(Date.now());
        expect(lease.expiresAt).toBeLessThanOrEqual(Date.now() + ttlMs);
        expect(await lease.release()).toBe(true);
        expect(lease.held).toBe(false);
        const again = await locker.tryAcquire(k);
        expect(again).not.toBeNull();
        await again!.release();
      });

      it("release is idempotent: a second call returns the first call's result", async () => {
        const locker = await newLocker();
        const lease = await locker.acquire(key('idempotent'));
        expect(await lease.release()).toBe(true);
        expect(await lease.release()).toBe(true); // the same settled release
        const other = await locker.acquire(lease.key);
        expect(await other.release()).toBe(true);
      });

      it('await using releases the lease at the end of the scope', async () => {
        const locker = await newLocker();
        const k = key('using');
        {
          await using lease = await locker.acquire(k);
          expect(lease.held).toBe(true);
          expect(await locker.tryAcquire(k)).toBeNull();
        }
        const after = await locker.tryAcquire(k);
        expect(after).not.toBeNull();
        await after!.release();
      });

      it('tryAcquire on a held key returns null without waiting', async () => {
        const [a, b] = [await newLocker(), await newLocker()];
        const k = key('try');
        const lease = await a.acquire(k);
        const started = performance.now();
        expect(await b.tryAcquire(k)).toBeNull();
        expect(performance.now() - started).toBeLessThan(ttlMs);
        await lease.release();
        const next = await b.tryAcquire(k);
        expect(next).not.toBeNull();
        await next!.release();
      });

      it('independent keys do not block each other', async () => {
        const [a, b] = [await newLocker(), await newLocker()];
        const first = await a.acquire(key('independent-a'));
        const second = await b.tryAcquire(key('independent-b'));
        expect(second).not.toBeNull();
        await Promise.all([first.release(), second!.release()]);
      });

      it('inspect shows who holds a key (or says plainly that the backend cannot)', async () => {
        const locker = await newLocker();
        const k = key('inspect');
        if (!caps.inspect) {
          await expect(locker.inspect(k)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
          return;
        }
        const lease = await locker.acquire(k, { owner: 'worker-7' });
        const info = await locker.inspect(k);
        expect(info?.held).toBe(true);
        if (info?.token !== undefined) expect(info.token).toBe(lease.token);
        if (info?.owner !== undefined) expect(info.owner).toBe('worker-7');
        await lease.release();
        const after = await locker.inspect(k);
        expect(after?.held ?? false).toBe(false);
      });
    });

    group('contention', 'mutual exclusion', () => {
      it('50 concurrent contenders on one key: one at a time, all get through', async () => {
        const k = key('mutex');
        const pool = await Promise.all(Array.from({ length: 5 }, () => newLocker({ wait: timeout / 2 })));
        let inside = 0;
        let maxInside = 0;
        let done = 0;
        const fences: number[] = [];
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            pool[i % pool.length]!.withLock(k, async (_signal, lease) => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              if (lease.fence !== undefined) fences.push(lease.fence);
              await sleep(1);
              inside--;
              done++;
            }),
          ),
        );
        expect(maxInside).toBe(1);
        expect(done).toBe(50);
        if (caps.fencing) {
          expect(fences).toHaveLength(50);
          for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!);
        }
      });

      it('200 different keys acquired and released concurrently', async () => {
        const [a, b] = [await newLocker(), await newLocker()];
        const keys = Array.from({ length: 200 }, (_, i) => key(`many-${i}`));
        const leases = await Promise.all(keys.map((k, i) => (i % 2 ? a : b).acquire(k)));
        expect(new Set(leases.map((lease) => lease.token)).size).toBe(200);
        expect(a.heldCount + b.heldCount).toBe(200);
        const released = await Promise.all(leases.map((lease) => lease.release()));
        expect(released.every(Boolean)).toBe(true);
        expect(a.heldCount + b.heldCount).toBe(0);
      });
    });

    group('waiting', 'acquire with wait', () => {
      it('gives up with ACQUIRE_TIMEOUT after the wait, not before', async () => {
        const [holder, waiter] = [await newLocker(), await newLocker()];
        const k = key('wait-timeout');
        const lease = await holder.acquire(k);
        const wait = Math.min(300, ttlMs / 2);
        const started = performance.now();
        const error = await waiter.acquire(k, { wait }).catch((e: unknown) => e);
        const elapsed = performance.now() - started;
        expect(isLeaseError(error, 'ACQUIRE_TIMEOUT')).toBe(true);
        expect((error as Error).message).toContain(k);
        expect(elapsed).toBeGreaterThanOrEqual(wait - 5);
        await lease.release();
      });

      it('gets the key as soon as the holder releases it', async () => {
        const [holder, waiter] = [await newLocker(), await newLocker()];
        const k = key('wait-release');
        const lease = await holder.acquire(k);
        const waiting = waiter.acquire(k, { wait: timeout / 2 });
        await sleep(50);
        await lease.release();
        const next = await waiting;
        expect(next.held).toBe(true);
        await next.release();
      });

      it('an abort stops the wait with the signal reason and leaves nothing locked', async () => {
        const [holder, waiter] = [await newLocker(), await newLocker()];
        const k = key('wait-abort');
        const lease = await holder.acquire(k);
        const controller = new AbortController();
        const reason = new Error('caller gave up');
        const waiting = waiter.acquire(k, { wait: timeout, signal: controller.signal });
        setTimeout(() => controller.abort(reason), 100);
        const started = performance.now();
        await expect(waiting).rejects.toBe(reason);
        expect(performance.now() - started).toBeLessThan(timeout / 2);
        await lease.release();
        // The attempt out at the abort may still land (after the release, on a loaded store): it
        // is given back when it answers, well before a lock left behind would expire.
        const after = await holder.acquire(k, { wait: releaseLanded });
        await after.release();
      });

      it('an already aborted signal rejects before any I/O', async () => {
        const counted = countCalls(await newBackend());
        const locker = await newLocker({}, counted.backend);
        await expect(locker.acquire(key('pre-abort'), { signal: AbortSignal.abort() })).rejects.toMatchObject(
          {
            name: 'AbortError',
          },
        );
        expect(counted.total()).toBe(0);
      });

      it.skipIf(!caps.releasedHint)(
        'the released hint wakes a waiter whose attempt found the key held, when another client releases it',
        async () => {
          const backend = await newBackend();
          if (!backend.released)
            throw new Error('capabilities declare releasedHint but backend.released is missing');
          const holder = await newLocker();
          const k = key('hint');
          const lease = await holder.acquire(k);
          const stop = new AbortController();
          // As the locker does: an attempt prepared to wait finds the key held, then waits for
          // the hint. A hint may also fire early (it says the key *may* be free; a backend whose
          // listening just started says so): then the waiter attempts and waits again.
          let woke = false;
          let hint: Promise<void> | undefined;
          for (let round = 0; round < 10 && !hint; round++) {
            const attempt = await backend.tryAcquire({ key: k, token: randomUUID(), ttlMs, waitMs: 10_000 });
            expect(attempt.status).toBe('held');
            const waiting = backend.released(k, stop.signal).then(() => {
              woke = true;
            });
            await sleep(100);
            if (!woke) hint = waiting;
            woke = false;
          }
          expect(hint, 'the hint kept firing while the key stayed held').toBeDefined();
          expect(woke, 'the hint fired before the release').toBe(false);
          await lease.release();
          await Promise.race([hint, sleep(5_000)]);
          expect(woke).toBe(true);
          stop.abort();
        },
      );
    });

    group(
      'expiry',
      'TTL expiry',
      () => {
        it('a timeout lock signals its holder before its deadline, and the key frees when the TTL runs out', async () => {
          const [holder, next] = [await newLocker(), await newLocker()];
          const k = key('expiry');
          const lease = await holder.acquire(k, { mode: 'timeout' });
          await lossSignal(lease).beforeDeadline();
          expect((lease.signal.reason as LeaseLostError).reason).toBe('expired');
          expect(lease.held).toBe(false);
          // The store's own expiry follows within the drift allowance (a store that waits out a full
          // lease duration before taking over, as DynamoDB's record-version rule does, needs up to
          // one more TTL): no forced expiry here.
          const successor = await next.acquire(k, { wait: ttlMs * 3 });
          expect(successor.held).toBe(true);
          if (caps.fencing) expect(successor.fence!).toBeGreaterThan(lease.fence!);
          expect(await lease.release()).toBe(false);
          await successor.release();
        });

        it('the store keeps the key held until the holder is told: every tryAcquire of another client before the signal is refused', async () => {
          // Catches a store that expires early (a TTL cut, a clock that jumps): core's own deadline
          // alone cannot. A poll is judged by when its answer came: granted while the holder still
          // counted the key held (\`held\` reads the clock), the two overlapped.
          const [holder, poller] = [await newLocker(), await newLocker()];
          const k = key('no-early-expiry');
          const lease = await holder.acquire(k, { mode: 'timeout' });
          const interval = Math.max(10, ttlMs / 30);
          let polls = 0;
          while (!lease.signal.aborted) {
            const taken = await poller.tryAcquire(k);
            const holderStillCounts = lease.held;
            if (taken) {
              await taken.release();
              expect
                .soft(holderStillCounts, 'granted to another client while the holder counted the key held')
                .toBe(false);
              break;
            }
            polls++;
            await sleep(interval);
          }
          expect(polls).toBeGreaterThan(1);
          if (!lease.signal.aborted)
            await new Promise((resolve) => lease.signal.addEventListener('abort', resolve, { once: true }));
          expect((lease.signal.reason as LeaseLostError).reason).toBe('expired');
          await lease.release();
        });

        it('an acquire retried with the same token runs the TTL again from the retry', async () => {
          // The caller counts validity from the retry's own send time (a retry across a network,
          // e.g. through a lock service): the store must not keep the first attempt's expiry.
          const backend = await newBackend();
          const k = key('same-token-ttl');
          const token = randomUUID();
          const started = performance.now();
          expect((await backend.tryAcquire({ key: k, token, ttlMs })).status).toBe('acquired');
          await sleep(ttlMs * 0.6 - (performance.now() - started));
          expect((await backend.tryAcquire({ key: k, token, ttlMs })).status).toBe('acquired');
          await sleep(ttlMs * 1.2 - (performance.now() - started));
          expect((await backend.tryAcquire({ key: k, token: randomUUID(), ttlMs })).status).toBe('held');
          expect(await backend.release({ key: k, token })).toBe(true);
        });
      },
      slowSkipped,
    );

    group(
      'renewal',
      'renewal',
      () => {
        it.skipIf(slowSkipped)('a lease lock is kept past several TTLs by background renewal', async () => {
          const [holder, other] = [await newLocker(), await newLocker()];
          const k = key('renew');
          const lease = await holder.acquire(k, { mode: 'lease' });
          await sleep(ttlMs * 2.5);
          expect(lease.held).toBe(true);
          expect(lease.signal.aborted).toBe(false);
          expect(await other.tryAcquire(k)).toBeNull();
          expect(await lease.release()).toBe(true);
        });

        it.skipIf(slowSkipped)('renew() extends a timeout lock by hand', async () => {
          const [holder, other] = [await newLocker(), await newLocker()];
          const k = key('manual-renew');
          const lease = await holder.acquire(k, { mode: 'timeout' });
          const before = lease.expiresAt;
          await sleep(ttlMs * 0.5);
          await lease.renew();
          expect(lease.expiresAt).toBeGreaterThan(before);
          await sleep(ttlMs * 0.7);
          expect(lease.held).toBe(true);
          expect(await other.tryAcquire(k)).toBeNull();
          await lease.release();
        });

        it.skipIf(slowSkipped)(
          'a holder whose renewals fail is told before its lease can have expired',
          async () => {
            const { backend, faults } = withRenewalFaults((await newBackend()) as LeaseBackend);
            const lostEvents: string[] = [];
            const locker = await newLocker(
              { hooks: { lost: (event) => lostEvents.push(event.key) } },
              backend,
            );
            const k = key('renew-fail');
            let onLost: LeaseLostError | undefined;
            const lease = await locker.acquire(k, { mode: 'lease', onLost: (error) => (onLost = error) });
            const signalled = lossSignal(lease);
            faults.failRenewals = true;
            await signalled.beforeDeadline();
            const reason = lease.signal.reason as LeaseLostError;
            expect(isLeaseError(reason, 'LEASE_LOST')).toBe(true);
            expect(reason.reason).toBe('renewal-failed');
            expect(onLost).toBe(reason);
            expect(lostEvents).toEqual([k]);
            expect(lease.held).toBe(false);
            expect(() => lease.assertHeld()).toThrow(reason);
            faults.failRenewals = false;
            await lease.release();
          },
        );

        it.skipIf(slowSkipped)('a renewal that answers after the local deadline is not trusted', async () => {
          const { backend, faults } = withRenewalFaults((await newBackend()) as LeaseBackend);
          let renewed = 0;
          const locker = await newLocker({ hooks: { renewed: () => renewed++ } }, backend);
          const k = key('late-renewal');
          // Every renewal reaches the store (which extends the key) and answers a whole TTL later.
          faults.delayRenewalAnswersMs = ttlMs;
          const lease = await locker.acquire(k, { mode: 'lease' });
          await lossSignal(lease).beforeDeadline();
          // The late answer arrives, says "renewed", and changes nothing.
          while (faults.delayedAnswers === 0) await sleep(ttlMs / 20);
          await sleep(10);
          expect(renewed).toBe(0);
          expect(lease.held).toBe(false);
          expect(['late-renewal', 'renewal-failed', 'expired']).toContain(
            (lease.signal.reason as LeaseLostError).reason,
          );
          expect(() => lease.assertHeld()).toThrow();
          faults.delayRenewalAnswersMs = 0;
          await lease.release();
        });

        it.skipIf(!forceExpire)(
          'a holder whose key was taken over learns it at the next renewal',
          async () => {
            const [holder, thief] = [await newLocker(), await newLocker()];
            const k = key('taken');
            const lease = await holder.acquire(k, { mode: 'lease' });
            await forceExpire!(k);
            const stolen = await thief.acquire(k, { wait: ttlMs });
            await new Promise((resolve) => lease.signal.addEventListener('abort', resolve, { once: true }));
            expect((lease.signal.reason as LeaseLostError).reason).toBe('taken');
            expect(await lease.release()).toBe(false);
            expect(stolen.held).toBe(true);
            await stolen.release();
          },
        );

        it.skipIf(slowSkipped)(
          'withLease renews through a routine longer than the TTL, then releases',
          async () => {
            const [locker, other] = [await newLocker(), await newLocker()];
            const k = key('with-lease');
            const result = await locker.withLease(k, async (signal) => {
              await sleep(ttlMs * 1.6);
              expect(signal.aborted).toBe(false);
              expect(await other.tryAcquire(k)).toBeNull();
              return 42;
            });
            expect(result).toBe(42);
            await (await other.acquire(k, { wait: releaseLanded })).release();
          },
        );

        it("withLease rethrows the routine's own error and still releases", async () => {
          const [locker, other] = [await newLocker(), await newLocker()];
          const k = key('with-lease-throw');
          const failure = new Error('routine failed');
          await expect(
            locker.withLease(k, async () => {
              throw failure;
            }),
          ).rejects.toBe(failure);
          await (await other.acquire(k, { wait: releaseLanded })).release();
        });
      },
      !caps.renew,
    );

    group('ownership', 'ownership', () => {
      it('a release by a non-holder is refused and the holder keeps the key', async () => {
        const backend = await newBackend();
        const locker = await newLocker({}, backend);
        const k = key('non-holder');
        const lease = await locker.acquire(k);
        expect(await backend.release({ key: k, token: randomUUID() })).toBe(false);
        expect(await locker.tryAcquire(k)).toBeNull();
        expect(lease.held).toBe(true);
        await lease.release();
      });

      it.skipIf(!caps.renew)('a renewal by a non-holder is refused', async () => {
        const backend = (await newBackend()) as LeaseBackend;
        const locker = await newLocker({}, backend);
        const k = key('renew-non-holder');
        const lease = await locker.acquire(k);
        const outcome = await backend.renew({ key: k, token: randomUUID() }, ttlMs);
        expect(outcome.status).toBe('lost');
        expect(await backend.renew({ key: key('never-held'), token: randomUUID() }, ttlMs)).toMatchObject({
          status: 'lost',
        });
        await lease.release();
      });

      it('an acquire retried with the same token succeeds (an earlier attempt may have landed)', async () => {
        const backend = await newBackend();
        const k = key('same-token');
        const token = randomUUID();
        const first = await backend.tryAcquire({ key: k, token, ttlMs });
        expect(first.status).toBe('acquired');
        const retry = await backend.tryAcquire({ key: k, token, ttlMs });
        expect(retry.status).toBe('acquired');
        if (caps.fencing && first.status === 'acquired' && retry.status === 'acquired') {
          // The caller only ever sees the last attempt's fence; it must not go back (the same
          // value, or a larger one where the store counts every attempt, as Redis does).
          expect(retry.fence).toBeGreaterThanOrEqual(first.fence!);
        }
        const other = await backend.tryAcquire({ key: k, token: randomUUID(), ttlMs });
        expect(other.status).toBe('held');
        expect(await backend.release({ key: k, token })).toBe(true);
      });

      it('a holding known only by key and token is renewed and released through another locker', async () => {
        const [holder, other] = [await newLocker(), await newLocker()];
        const k = key('by-ref');
        const lease = await holder.acquire(k, { mode: 'timeout' });
        const ref = { key: k, token: lease.token, fence: lease.fence };
        if (caps.renew) {
          const renewed = await other.renewHolding(ref);
          expect(renewed).toMatchObject({ key: k, fence: lease.fence, ttlMs });
          expect(renewed.expiresAt).toBeGreaterThan(Date.now());
        }
        expect(await other.tryAcquire(k)).toBeNull();
        expect(await other.releaseHolding(ref)).toBe(true);
        expect(await other.releaseHolding(ref)).toBe(false);
        if (caps.renew) await expect(other.renewHolding(ref)).rejects.toMatchObject({ code: 'LEASE_LOST' });
        const next = await other.acquire(k);
        if (caps.fencing) expect(next.fence!).toBeGreaterThan(lease.fence!);
        expect(await lease.release()).toBe(false);
        await next.release();
      });

      it('with sharedHoldings, a waiter gets a key released through another locker long before its TTL', async () => {
        const shared = await newLocker({ sharedHoldings: true });
        const other = await newLocker();
        const k = key('shared-holdings');
        const longTtl = Math.min(caps.maxTtlMs, roundUp(Math.max(caps.minTtlMs, 20_000)));
        const lease = await shared.acquire(k, { ttl: longTtl });
        const waiting = shared.acquire(k, { wait: Math.min(5_000, longTtl / 2) });
        await sleep(50);
        expect(await other.releaseHolding({ key: k, token: lease.token, fence: lease.fence })).toBe(true);
        // Without sharedHoldings the waiter would sleep until the first lease's local deadline.
        const next = await waiting;
        expect(next.held).toBe(true);
        if (caps.fencing) expect(next.fence!).toBeGreaterThan(lease.fence!);
        await next.release();
      });

      it('an acquire with a given token, repeated through another client, gets the same holding', async () => {
        const [first, retry] = [await newLocker(), await newLocker()];
        const k = key('given-token');
        const token = randomUUID();
        const lease = await first.acquire(k, { token });
        expect(lease.token).toBe(token);
        const again = await retry.acquire(k, { token });
        expect(again.token).toBe(token);
        if (caps.fencing) expect(again.fence!).toBeGreaterThanOrEqual(lease.fence!);
        expect(await retry.tryAcquire(k, { token: randomUUID() })).toBeNull();
        expect(await again.release()).toBe(true);
        expect(await lease.release()).toBe(false);
      });
    });

    group(
      'fencing',
      'fencing tokens',
      () => {
        it('strictly increase across successive holders on different clients', async () => {
          const pool = [await newLocker(), await newLocker()];
          const k = key('fence');
          let last = 0;
          for (let i = 0; i < 10; i++) {
            const lease = await pool[i % 2]!.acquire(k);
            expect(Number.isSafeInteger(lease.fence)).toBe(true);
            expect(lease.fence!).toBeGreaterThan(last);
            last = lease.fence!;
            await lease.release();
          }
        });

        it('survive release: the counter never resets', async () => {
          const locker = await newLocker();
          const k = key('fence-release');
          const first = await locker.acquire(k);
          await first.release();
          await sleep(20);
          const second = await locker.acquire(k);
          expect(second.fence!).toBeGreaterThan(first.fence!);
          await second.release();
        });
      },
      !caps.fencing,
    );

    group('handOver', 'hand-over between callers of one locker', () => {
      // A TTL long enough that a timeout-lock waiter takes a hand-over asked tens of ms before
      // (it must be younger than the loss margin, 5% of the TTL); nothing here waits it out.
      const handOverTtl = Math.max(ttlMs, roundUp(5_000));
      /** A locker over a counted backend, recording the hand-over flags of its hooks. */
      const counted = async (extra: LockerOptions = {}) => {
        const calls = countCalls(await newBackend());
        const events: string[] = [];
        const locker = await newLocker(
          {
            wait: timeout / 2,
            ttl: handOverTtl,
            ...extra,
            hooks: {
              acquired: (event) => events.push(event.handedOver ? 'handed over' : 'acquired'),
              released: (event) => events.push(event.handedOver ? 'passed on' : 'released'),
            },
          },
          calls.backend,
        );
        return { calls: calls.calls, events, locker };
      };
      // How each holder got the key, and how each let it go (the two interleave differently per store).
      const taken = (events: string[]) => events.filter((e) => e === 'acquired' || e === 'handed over');
      const given = (events: string[]) => events.filter((e) => e === 'released' || e === 'passed on');
      /** The longest run of holders in a row that took the key by hand-over. */
      const longestRun = (events: string[]) => {
        let longest = 0;
        let current = 0;
        for (const event of taken(events)) {
          current = event === 'handed over' ? current + 1 : 0;
          longest = Math.max(longest, current);
        }
        return longest;
      };
      /** Waits (polling) until `ready()`; fails the test if that never comes. No timing is asserted. */
      const until = async (ready: () => boolean, what: string) => {
        const giveUpAt = performance.now() + timeout / 2;
        while (!ready()) {
          if (performance.now() > giveUpAt) throw new Error(`never happened: ${what}`);
          await sleep(1);
        }
      };
      /**
       * The waiter just queued has been seen by the holder: with `handOver`, once the store was
       * asked (the `n`th request) for the hand-over; without, after a moment (nothing to see).
       */
      const queued = (calls: { handOver: number }, n: number) =>
        caps.handOver ? until(() => calls.handOver >= n, `hand-over request ${n}`) : sleep(20);

      /**
       * Callers taking `k` in turn, each holding it 1 ms: per locker, `workers` callers doing
       * `rounds` holdings each, or, with `rounds: 'until-done'`, going on until every counted
       * caller is done. Records the holdings in the order they were taken, and the most
       * callers that held the key at once, across every locker.
       */
      const contend = async (
        k: string,
        parties: readonly { locker: Locker; workers: number; rounds: number | 'until-done' }[],
      ) => {
        const holdings: { party: number; caller: number; fence: number | undefined }[] = [];
        const turns = parties.map((party) => Array<number>(party.workers).fill(0));
        let holders = 0;
        let most = 0;
        let done = false;
        const caller = async (p: number, c: number) => {
          const { locker, rounds } = parties[p]!;
          for (let round = 0; rounds === 'until-done' ? !done : round < rounds; round++) {
            const lease = await locker.acquire(k);
            holders++;
            most = Math.max(most, holders);
            holdings.push({ party: p, caller: c, fence: lease.fence });
            await sleep(1);
            expect(lease.held).toBe(true);
            holders--;
            await lease.release();
            turns[p]![c]!++;
          }
        };
        // The busy callers first: the counted ones join a key already being handed around.
        const busy = parties.flatMap((party, p) =>
          party.rounds === 'until-done' ? Array.from({ length: party.workers }, (_, c) => caller(p, c)) : [],
        );
        try {
          if (busy.length > 0)
            await until(() => holdings.length >= 2 * busy.length, 'the busy callers took turns');
          const counted = parties.flatMap((party, p) =>
            party.rounds === 'until-done'
              ? []
              : Array.from({ length: party.workers }, (_, c) => caller(p, c)),
          );
          await Promise.all(counted);
        } finally {
          done = true;
          await Promise.all(busy);
        }
        // One holder at a time, across lockers and clients.
        expect(most).toBe(1);
        if (caps.fencing) {
          for (let i = 1; i < holdings.length; i++)
            expect(holdings[i]!.fence!, `holding ${i}`).toBeGreaterThan(holdings[i - 1]!.fence!);
        }
        // Nobody starves: every caller had turns (a starved one ends in ACQUIRE_TIMEOUT above).
        for (const [p, party] of parties.entries()) {
          for (const [c, count] of turns[p]!.entries()) {
            expect(count, `caller ${c} of locker ${p}`).toBeGreaterThanOrEqual(
              party.rounds === 'until-done' ? 1 : party.rounds,
            );
          }
        }
        return holdings;
      };

      it('a waiter of the same locker takes the key at its release: a greater fence, one holder at a time', async () => {
        const { calls, events, locker } = await counted();
        const k = key('hand-over');
        const first = await locker.acquire(k);
        const waiting = locker.acquire(k);
        await queued(calls, 1); // no store attempt for a key this locker holds; the hand-over is asked for
        const before = { ...calls };
        expect(await first.release()).toBe(true);
        const second = await waiting;
        expect(first.held).toBe(false);
        expect(second.held).toBe(true);
        if (caps.fencing) expect(second.fence!).toBeGreaterThan(first.fence!);
        if (caps.handOver) {
          // Passed on as it was in the store: no release, no acquire, and one request asked while the first worked.
          expect([calls.tryAcquire, calls.release, calls.handOver]).toEqual([
            before.tryAcquire,
            before.release,
            1,
          ]);
          expect(events).toEqual(['acquired', 'passed on', 'handed over']);
          expect(second.token).toBe(first.token);
          if (caps.inspect)
            expect(await locker.inspect(k)).toMatchObject({ held: true, token: second.token });
        }
        // Another client still finds it held, and takes it, with a greater fence, once released.
        const other = await newLocker();
        expect(await other.tryAcquire(k)).toBeNull();
        expect(await second.release()).toBe(true);
        const third = await other.tryAcquire(k);
        expect(third).not.toBeNull();
        if (caps.fencing) expect(third!.fence!).toBeGreaterThan(second.fence!);
        await third!.release();
      });

      it.skipIf(!caps.inspect)(
        "a holder handed the key over counts it held no longer than the store's expiry",
        async () => {
          const { calls, locker } = await counted();
          const k = key('hand-over-deadline');
          const first = await locker.acquire(k);
          const waiting = locker.acquire(k);
          await queued(calls, 1); // the extension for the waiter is asked for now, well before the hand-over
          await first.release();
          const second = await waiting;
          const info = await locker.inspect(k);
          // The store measured what it reports before it answered: it frees the key no later than this.
          const storeExpiresBy = Date.now() + (info?.ttlRemainingMs ?? Infinity);
          expect(info?.held).toBe(true);
          expect(second.expiresAt).toBeLessThanOrEqual(storeExpiresBy + step);
          await second.release();
        },
      );

      it(`callers of one locker take the key in turn: one holder at a time, fences increase, nobody starves; a run of hand-overs skips the store and ends after localHandOvers${caps.contention ? ' only when somebody else waits' : ''}`, async () => {
        const localHandOvers = 2;
        const { calls, events, locker } = await counted({ localHandOvers });
        const k = key('hand-over-turns');
        const holdings = await contend(k, [{ locker, workers: 4, rounds: 5 }]);
        expect(holdings).toHaveLength(20);
        expect(taken(events)).toHaveLength(20);
        // A holder that passed the key on did not release it in the store; one that took it by
        // hand-over did not acquire it there.
        expect(calls.release).toBe(given(events).filter((e) => e === 'released').length);
        expect(calls.tryAcquire).toBeGreaterThanOrEqual(taken(events).filter((e) => e === 'acquired').length);
        if (caps.handOver) {
          const handedOver = taken(events).filter((e) => e === 'handed over').length;
          expect(handedOver).toBeGreaterThan(0);
          expect(calls.tryAcquire).toBeLessThan(holdings.length);
          // Nobody else waits for the key: a store that can tell lets the run go on past its
          // block; one that cannot gives the key back to the store after each block.
          if (caps.contention) expect(longestRun(events)).toBeGreaterThan(localHandOvers);
          else expect(longestRun(events)).toBeLessThanOrEqual(localHandOvers);
        } else {
          expect(taken(events).every((e) => e === 'acquired')).toBe(true);
        }
        if (caps.inspect) expect((await locker.inspect(k))?.held ?? false).toBe(false);
      });

      it.skipIf(!caps.releasedHint)(
        'waiters in another locker get their turns while this one keeps handing the key over: one holder at a time, fences increase',
        async () => {
          const { events, locker } = await counted({ localHandOvers: 3 });
          const other = await newLocker({ wait: timeout / 2, ttl: handOverTtl });
          const k = key('hand-over-fair');
          // Five callers of one locker take the key in turn, as fast as they can, until the two
          // callers of the other locker have had three turns each; starved, those would end in
          // ACQUIRE_TIMEOUT.
          const holdings = await contend(k, [
            { locker, workers: 5, rounds: 'until-done' },
            { locker: other, workers: 2, rounds: 3 },
          ]);
          expect(holdings.filter((h) => h.party === 1)).toHaveLength(6);
          // This locker's runs of hand-overs ended, or the other could not have had the key.
          if (caps.handOver) expect(taken(events)).toContain('acquired');
        },
      );

      it.skipIf(!caps.renew)(
        'a renewal sent after the hand-over was asked for, or a new head asking another TTL, go through the store',
        async () => {
          const { calls, events, locker } = await counted();
          const k = key('hand-over-unused');
          const first = await locker.acquire(k, { mode: 'lease' });
          const second = locker.acquire(k);
          await queued(calls, 1);
          // Could have set another TTL than the hand-over asked for: that extension is not used.
          await first.renew();
          await first.release();
          const next = await second;
          expect(next.held).toBe(true);
          // The waiter the hand-over was asked for leaves; the new head wants another TTL.
          const leaving = new AbortController();
          const gone = locker.acquire(k, { signal: leaving.signal }).catch((error: unknown) => error);
          await queued(calls, 2);
          const third = locker.acquire(k, { ttl: handOverTtl + step });
          leaving.abort(new Error('gave up'));
          expect(await gone).toMatchObject({ message: 'gave up' });
          await next.release();
          const last = await third;
          expect(last.held).toBe(true);
          if (caps.fencing) expect(last.fence!).toBeGreaterThan(next.fence!);
          await last.release();
          expect(taken(events)).toEqual(['acquired', 'acquired', 'acquired']);
          expect(given(events)).toEqual(['released', 'released', 'released']);
          expect(calls.tryAcquire).toBe(3);
        },
      );

      it.skipIf(!caps.handOver || !forceExpire)(
        'a hand-over answered "not ours" ends the holder\'s lease at once',
        async () => {
          const { locker } = await counted();
          const k = key('hand-over-lost');
          const first = await locker.acquire(k);
          const lost = new Promise<LeaseLostError>((resolve) =>
            first.signal.addEventListener('abort', () => resolve(first.signal.reason as LeaseLostError)),
          );
          await forceExpire!(k); // the store no longer holds it for us
          const waiting = locker.acquire(k); // asks for the hand-over: the store says it is not ours
          const error = await lost;
          // Told by the hand-over's answer: its own deadline would have said 'expired'.
          expect(error.reason).toBe('taken');
          const next = await waiting; // the loss woke the waiter, which took the free key in the store
          expect(next.held).toBe(true);
          if (caps.fencing) expect(next.fence!).toBeGreaterThan(first.fence!);
          await next.release();
        },
      );
    });

    group('badInput', 'bad input is refused before any I/O', () => {
      it.each([
        ['an empty key', '', {}],
        ['a key that is not a string', 42 as unknown as string, {}],
        ['an over-long key', 'k'.repeat(5_000), {}],
        ['a TTL below the minimum', 'ok', { ttl: caps.minTtlMs - 1 }],
        ['a TTL above the maximum', 'ok', { ttl: caps.maxTtlMs + step }],
        ['a negative TTL', 'ok', { ttl: -5 }],
        ['a NaN TTL', 'ok', { ttl: Number.NaN }],
        ['a malformed TTL string', 'ok', { ttl: 'ten seconds' as never }],
        ['a negative wait', 'ok', { wait: -1 }],
        ['a signal that is not an AbortSignal', 'ok', { signal: {} as AbortSignal }],
        ['an unknown mode', 'ok', { mode: 'forever' as never }],
      ] as const)('%s', async (_label, badKey, acquireOptions) => {
        const counted = countCalls(await newBackend());
        const locker = await newLocker({}, counted.backend);
        const error = await locker.acquire(badKey, acquireOptions).catch((e: unknown) => e);
        expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
        expect((error as Error).message).toMatch(/must/);
        expect(counted.total()).toBe(0);
        // Nothing was left locked by the bad request.
        const lease = await locker.tryAcquire(key('after-bad-input'));
        expect(lease).not.toBeNull();
        await lease!.release();
      });

      it('names the allowed TTL range', async () => {
        const locker = await newLocker();
        const error = (await locker
          .acquire(key('range'), { ttl: caps.maxTtlMs + step })
          .catch((e: unknown) => e)) as Error;
        expect(error.message).toMatch(/ttl must be .+ to .+/);
      });
    });

    group('lifecycle', 'lifecycle', () => {
      it('closing the locker releases what it held and refuses new work', async () => {
        const locker = await newLocker();
        const other = await newLocker();
        const k = key('close');
        const lease = await locker.acquire(k, { mode: caps.renew ? 'lease' : 'timeout' });
        await locker.close();
        expect(lease.signal.aborted).toBe(true);
        expect((lease.signal.reason as LeaseLostError).reason).toBe('closed');
        await expect(locker.acquire(key('closed'))).rejects.toMatchObject({ code: 'CLOSED' });
        const after = await other.tryAcquire(k);
        expect(after).not.toBeNull();
        await after!.release();
      });

      it('close() leaves no timers or sockets behind', async () => {
        const handles = () =>
          process
            .getActiveResourcesInfo()
            .filter((name) => name !== 'TTYWrap' && name !== 'PipeWrap' && name !== 'FSReqCallback');
        await sleep(20);
        const before = handles();
        const backend = await options.createBackend();
        const locker = createLocker(backend, { ttl: ttlMs, wait: ttlMs });
        const k = key('leaks');
        const lease = await locker.acquire(k, { mode: caps.renew ? 'lease' : 'timeout' });
        const waiting = locker.acquire(k, { wait: 100 }).catch(() => undefined);
        await waiting;
        await lease.release();
        await locker.close();
        await sleep(50);
        const after = handles();
        const count = (list: string[]) =>
          list.reduce<Record<string, number>>((acc, name) => {
            acc[name] = (acc[name] ?? 0) + 1;
            return acc;
          }, {});
        const grown = Object.entries(count(after)).filter(([name, n]) => n > (count(before)[name] ?? 0));
        expect(grown).toEqual([]);
      });
    });
  });
}

/**
 * Watches for `lease`'s loss signal. `beforeDeadline()` waits for it and asserts it came before
 * the lease's local deadline, or else that this process could not have run any timer before
 * that deadline: a probe timer due 5 ms before it was late too (the loop was stalled across the
 * deadline, as on a loaded CI machine, which no timer can beat). A probe on time with the signal
 * late is the locker's fault, and fails.
 */
function lossSignal(lease: { readonly expiresAt: number; readonly signal: AbortSignal }): {
  beforeDeadline(): Promise<void>;
} {
  const deadline = lease.expiresAt;
  let probeAt = Infinity;
  const probe = setTimeout(() => (probeAt = Date.now()), Math.max(0, deadline - 5 - Date.now()));
  const signalled = new Promise<number>((resolve) =>
    lease.signal.addEventListener('abort', () => resolve(Date.now()), { once: true }),
  );
  return {
    async beforeDeadline() {
      const abortedAt = await signalled;
      clearTimeout(probe);
      if (abortedAt < deadline) return;
      expect(probeAt, `loss signalled ${abortedAt - deadline} ms after the deadline`).toBeGreaterThanOrEqual(
        deadline,
      );
    },
  };
}
