import { describe, expect, it, vi } from 'vitest';
import {
  BackendUnavailableError,
  createLocker,
  InvalidArgumentError,
  isLeaseError,
  type LeaseLostError,
  type TimeoutBackend,
} from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

const locker = useLockers({ ttl: '1s', wait: 0 });

/** A store that cannot extend a TTL: plugs in as a timeout-lock backend. */
function timeoutOnly(inner: ScriptedBackend): TimeoutBackend {
  return {
    name: 'timeout-only',
    capabilities: inner.capabilities,
    tryAcquire: (request) => inner.tryAcquire(request),
    release: (lease) => inner.release(lease),
    close: () => inner.close(),
  };
}

describe('withLease', () => {
  it("rethrows the routine's own error, even when the release fails too, and reports the release failure", async () => {
    const backend = new ScriptedBackend();
    backend.releaseScript = new BackendUnavailableError('release failed', { backend: 'scripted' });
    const releaseFailures: string[] = [];
    const l = locker(backend, { hooks: { releaseFailed: (e) => releaseFailures.push(e.error.message) } });
    const failure = new TypeError('routine bug');
    await expect(
      l.withLease('k', () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(releaseFailures).toEqual(['[leasekit] [scripted]: release failed']);
    expect(l.heldCount).toBe(0);
  });

  it('returns the result when only the release failed (the lease expires by its TTL)', async () => {
    const backend = new ScriptedBackend();
    backend.releaseScript = new BackendUnavailableError('release failed', { backend: 'scripted' });
    const failures: unknown[] = [];
    const l = locker(backend, { hooks: { releaseFailed: (e) => failures.push(e.error) } });
    await expect(l.withLease('k', async () => 'done')).resolves.toBe('done');
    expect(failures).toHaveLength(1);
  });

  it('does not wait for a hanging release longer than releaseTimeout, and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.releaseScript = 'hang';
    const l = locker(backend, { releaseTimeout: '300ms' });
    let settled = false;
    const run = l
      .withLease('k', async () => 7)
      .then((value) => {
        settled = true;
        return value;
      });
    await vi.advanceTimersByTimeAsync(299);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await run).toBe(7);
    // What is left (the scheduler's timer, unreferenced) runs out by itself.
    await vi.runAllTimersAsync();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the LeaseLostError when the lease was lost while the routine ran', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.renewScript = { status: 'lost' };
    const l = locker(backend);
    let sawAbort = false;
    const run = l
      .withLease('k', async (signal) => {
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        sawAbort = signal.aborted;
        return 'finished';
      })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2_000);
    const error = (await run) as LeaseLostError;
    expect(sawAbort).toBe(true);
    expect(error.code).toBe('LEASE_LOST');
    expect(error.reason).toBe('taken');
  });

  it("aborts the routine's signal when the caller's signal aborts", async () => {
    const backend = new ScriptedBackend();
    const controller = new AbortController();
    const l = locker(backend);
    const reason = new Error('shutdown');
    const run = l.withLease(
      'k',
      (signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          controller.abort(reason);
        }),
      { signal: controller.signal },
    );
    await expect(run).rejects.toBe(reason);
    expect(backend.count('release')).toBe(1);
  });

  it('refuses a timeout-lock backend plainly, before any I/O', async () => {
    const backend = new ScriptedBackend();
    const l = locker(timeoutOnly(backend));
    const error = await l.withLease('k', () => 1).catch((e: unknown) => e);
    expect(isLeaseError(error, 'UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toMatch(/cannot renew/);
    expect(backend.calls).toHaveLength(0);
    expect(() => createLocker(timeoutOnly(backend), { mode: 'lease' })).toThrow(/cannot renew/);
  });

  it('a timeout-lock backend serves timeout locks and withLock', async () => {
    const backend = new ScriptedBackend();
    const l = locker(timeoutOnly(backend));
    await expect(l.withLock('k', (_signal, lease) => lease.mode)).resolves.toBe('timeout');
    const lease = await l.acquire('k');
    await expect(lease.renew()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await lease.release();
  });
});

describe('acquire errors', () => {
  it('retries a retryable store error within the wait, then surfaces that error (not a timeout)', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.acquireScript = new BackendUnavailableError('connection refused', {
      backend: 'scripted',
      operation: 'acquire',
    });
    const run = locker(backend)
      .acquire('k', { wait: '500ms' })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(500);
    const error = await run;
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(backend.count('acquire')).toBeGreaterThan(2);
  });

  it('throws a non-retryable error at once', async () => {
    const backend = new ScriptedBackend();
    backend.acquireScript = new InvalidArgumentError('key too long for this store', { backend: 'scripted' });
    await expect(locker(backend).acquire('k', { wait: '5s' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(backend.count('acquire')).toBe(1);
  });

  it('wraps a foreign error as BACKEND_UNAVAILABLE, keeping it as cause, and names backend, operation and key', async () => {
    const backend = new ScriptedBackend();
    const cause = new Error('ECONNRESET');
    backend.acquireScript = cause;
    const error = (await locker(backend)
      .tryAcquire('orders:42')
      .catch((e: unknown) => e)) as Error;
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe('[leasekit] [scripted] acquire "orders:42": ECONNRESET');
  });

  it('rejects bad options with the allowed range before any I/O', async () => {
    const backend = new ScriptedBackend();
    const l = locker(backend);
    await expect(l.acquire('k', { ttl: '2h' })).rejects.toThrow(
      /ttl must be 1ms to 1h for the scripted backend; got 2h/,
    );
    await expect(l.acquire('k', { wait: '-1s' as never })).rejects.toThrow(/wait must be/);
    expect(() => createLocker(backend, { renewFraction: 1.5 })).toThrow(
      /renewFraction must be a number between 0 and 1/,
    );
    expect(() => createLocker(backend, { ttl: 0 })).toThrow(/ttl must be 1ms to 1h/);
    expect(() => createLocker(backend, { retry: { initial: 'soon' as never } })).toThrow(
      /retry.initial must be/,
    );
    expect(backend.calls).toHaveLength(0);
  });
});

describe('hooks', () => {
  it('reports acquired, renewed, released with timings, and survives a throwing hook', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    const events: string[] = [];
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    const l = locker(backend, {
      hooks: {
        acquired: (e) => events.push(`acquired ${e.key} attempts=${e.attempts}`),
        renewed: (e) => {
          events.push(`renewed ${e.key} batch=${e.batchSize}`);
          throw new Error('hook bug');
        },
        released: (e) => events.push(`released ${e.key} wasHeld=${e.wasHeld}`),
      },
    });
    const lease = await l.acquire('k', { mode: 'lease' });
    await vi.advanceTimersByTimeAsync(400);
    await lease.release();
    vi.useRealTimers();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(events).toEqual(['acquired k attempts=1', 'renewed k batch=1', 'released k wasHeld=true']);
    expect(warnings.some((message) => message.includes("'renewed' hook threw"))).toBe(true);
    expect(lease.held).toBe(false);
  });
});

describe('close', () => {
  it('releases held leases, closes the backend once, and is idempotent', async () => {
    const backend = new ScriptedBackend();
    const l = createLocker(backend, { ttl: '1s', tracing: false });
    const lease = await l.acquire('k', { mode: 'lease' });
    await Promise.all([l.close(), l.close()]);
    expect(backend.count('release')).toBe(1);
    expect(backend.closed).toBe(true);
    expect((lease.signal.reason as LeaseLostError).reason).toBe('closed');
    await expect(l.tryAcquire('k')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('tells onLost and the lost hook about leases it ends', async () => {
    const lost: string[] = [];
    const l = createLocker(new ScriptedBackend(), {
      tracing: false,
      hooks: { lost: (event) => lost.push(`hook ${event.key} ${event.error.reason}`) },
    });
    await l.acquire('k', { mode: 'lease', onLost: (error) => lost.push(`onLost ${error.reason}`) });
    await l.close();
    expect(lost).toEqual(['hook k closed', 'onLost closed']);
  });

  it('leaves the backend open with closeBackend: false', async () => {
    const backend = new ScriptedBackend();
    const l = createLocker(backend, { closeBackend: false, tracing: false });
    await l.close();
    expect(backend.closed).toBe(false);
  });
});

describe('waiting for a hot key', () => {
  it('waiters queue behind a holder in this locker without polling, and are handed the key in FIFO order', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    const l = locker(backend);
    const lease = await l.acquire('hot');
    backend.acquireScript = (call) => (call >= 2 ? { status: 'acquired', fence: call } : { status: 'held' });
    const order: number[] = [];
    const waiters = Array.from({ length: 5 }, (_, i) =>
      l.acquire('hot', { wait: '30s' }).then(async (next) => {
        order.push(i);
        if (i > 0) await next.release(); // hand over to the next waiter at once
        return next;
      }),
    );
    await vi.advanceTimersByTimeAsync(500);
    // Nobody asks the store for a key this locker holds (it could only say "held"): they queue.
    expect(backend.count('acquire')).toBe(1);
    await lease.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(backend.count('acquire')).toBe(2); // one woken waiter tried, not five
    expect(order).toEqual([0]); // the longest waiter
    await (await waiters[0]!).release();
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(backend.count('acquire')).toBe(6); // every hand-over took exactly one attempt
  });

  /**
   * A locker (10 ms per store call, fake timers) holding 'hot' on a backend with or without
   * `orderedRelease`; the store answers every later attempt "held" until a test says otherwise.
   */
  async function holdingHot(ordered: boolean) {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    Object.assign(backend, { capabilities: { ...backend.capabilities, orderedRelease: ordered } });
    backend.latencyMs = 10;
    const l = locker(backend);
    const first = l.acquire('hot');
    await vi.advanceTimersByTimeAsync(10);
    const held = await first;
    backend.acquireScript = { status: 'held' };
    return { backend, l, held };
  }

  it.each([
    [true, 'sends the next waiter its attempt right behind the release'],
    [false, 'wakes the next waiter only once the release answered'],
  ])('with orderedRelease %s, a local hand-over %s', async (ordered) => {
    const { backend, l, held } = await holdingHot(ordered);
    const waiter = l.acquire('hot', { wait: '10s' });
    await vi.advanceTimersByTimeAsync(100);
    expect(backend.count('acquire')).toBe(1); // no attempt, no polling of a key this locker holds
    backend.acquireScript = { status: 'acquired', fence: 2 };
    const released = held.release();
    await vi.advanceTimersByTimeAsync(0);
    // Ordered: the attempt is already on its way, behind the release; otherwise it waits for it.
    expect(backend.count('acquire')).toBe(ordered ? 2 : 1);
    await vi.advanceTimersByTimeAsync(10);
    expect(backend.count('acquire')).toBe(2);
    await vi.advanceTimersByTimeAsync(10);
    await expect(released).resolves.toBe(true);
    expect((await waiter).fence).toBe(2);
    expect(backend.count('acquire')).toBe(2);
  });

  it('a release answered after the hand-over does not send the next waiter to a key held here', async () => {
    const { backend, l, held } = await holdingHot(true);
    backend.releaseLatencyMs = 30; // the next holder's attempt is answered first
    const second = l.acquire('hot', { wait: '10s' });
    const third = l.acquire('hot', { wait: '10s' });
    await vi.advanceTimersByTimeAsync(100);
    expect(backend.count('acquire')).toBe(1); // held here: nobody asked the store
    backend.acquireScript = { status: 'acquired', fence: 2 };
    const released = held.release();
    await vi.advanceTimersByTimeAsync(10);
    const next = await second;
    await vi.advanceTimersByTimeAsync(100);
    await expect(released).resolves.toBe(true);
    // The release's answer woke nobody: the third waiter could only have failed (or, on this
    // store that keeps no state, taken the key twice). The second holder's release wakes it.
    expect(backend.count('acquire')).toBe(2);
    backend.acquireScript = { status: 'acquired', fence: 3 };
    const nextReleased = next.release();
    await vi.advanceTimersByTimeAsync(40);
    expect((await third).fence).toBe(3);
    expect(backend.count('acquire')).toBe(3);
    await nextReleased;
  });

  it('a waiter whose backoff timer fires keeps its place in the queue', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.acquireScript = { status: 'held' }; // held by another process: waiters poll with backoff
    const l = locker(backend, { retry: { initial: '10ms', max: '40ms' } });
    const order: number[] = [];
    const waiters = Array.from({ length: 3 }, (_, i) =>
      l.acquire('remote', { wait: '10s' }).then((next) => {
        order.push(i);
        return next;
      }),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    // From now on every other attempt wins: a woken waiter may still have to back off once more.
    backend.acquireScript = (call) => (call % 2 ? { status: 'acquired', fence: call } : { status: 'held' });
    for (const waiter of waiters) {
      // Fake time must keep running while we wait: the next waiter's retry sits on a timer.
      await vi.advanceTimersByTimeAsync(1_000);
      await (await waiter).release();
    }
    expect(order).toEqual([0, 1, 2]);
  });
});

describe('waiting for a key held elsewhere', () => {
  it('only the head of the queue polls the store; the others wait for their turn', async () => {
    vi.useFakeTimers();
    const backend = new ScriptedBackend();
    backend.acquireScript = { status: 'held' };
    const l = locker(backend, { retry: { initial: '100ms', max: '100ms', maxJitter: 0 } });
    const waiters = Array.from({ length: 10 }, () =>
      l.acquire('remote', { wait: '1s' }).catch((e: unknown) => e),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    const errors = await Promise.all(waiters);
    expect(errors.every((error) => isLeaseError(error, 'ACQUIRE_TIMEOUT'))).toBe(true);
    expect(backend.count('acquire')).toBe(11); // one poller: an attempt at 0, 100, ..., 1000 ms
  });

  it('close() ends every wait at once with CLOSED', async () => {
    const backend = new ScriptedBackend();
    const l = createLocker(backend, { tracing: false });
    await l.acquire('k');
    backend.acquireScript = { status: 'held' };
    const waiting = [l.acquire('k', { wait: '1m' }), l.acquire('k', { wait: '1m' })];
    await new Promise((resolve) => setTimeout(resolve, 20));
    await l.close();
    for (const result of await Promise.allSettled(waiting)) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'CLOSED' });
    }
  });
});

describe('backend limits', () => {
  it("refuses a renewFraction above the backend's maxRenewFraction, naming the limit", () => {
    const backend = new ScriptedBackend();
    Object.assign(backend, { capabilities: { ...backend.capabilities, maxRenewFraction: 0.5 } });
    expect(() => createLocker(backend, { renewFraction: 0.6 })).toThrow(
      /renewFraction must be at most 0.5 for the scripted backend \(a lease must last at least 2 renew intervals\); got 0.6/,
    );
    expect(() => createLocker(backend, { renewFraction: 0.5, tracing: false })).not.toThrow();
  });
});

describe('the process', () => {
  it('exits once its leases are released, even with the locker left open: no timer holds it', async () => {
    const { spawn } = await import('node:child_process');
    // The built package, as a user runs it; a store that answers at once; a TTL and a release
    // bound of a minute, either of which would keep the process up if its timer were referenced.
    const core = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      const { createLocker } = await import(${JSON.stringify(core)});
      const backend = {
        name: 'instant',
        capabilities: { fencing: false, minTtlMs: 1, maxTtlMs: 2 ** 31 - 1, infiniteTtl: false },
        tryAcquire: async () => ({ status: 'acquired' }),
        renew: async () => ({ status: 'renewed' }),
        release: async () => true,
        close: async () => {},
      };
      const locker = createLocker(backend, { ttl: '1m', releaseTimeout: '1m' });
      for (const mode of ['timeout', 'lease']) {
        const lease = await locker.acquire('k', { mode });
        await lease.release();
      }
      console.log('released');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    // Killed (exit code null) long before a referenced timer would let it go.
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(killer);
    expect(output.trim()).toBe('released');
    expect(code).toBe(0);
  }, 30_000);
});
