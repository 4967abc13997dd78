import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLocker, type Lease, type LeaseLostError } from '../src/index.js';
import { ScriptedBackend } from './scripted-backend.js';

/** A tracer that throws where the test says: starting the spans named in `failStart`, or ending any. */
const failStart = new Set<string>();
let failEnd = false;
const span = {
  isRecording: () => true,
  setAttribute() {
    if (failEnd) throw new Error('tracer down: setAttribute');
  },
  setStatus() {},
  recordException() {},
  end() {
    if (failEnd) throw new Error('tracer down: end');
  },
};
trace.setGlobalTracerProvider({
  getTracer: () =>
    ({
      startSpan(name: string) {
        if (failStart.has(name)) throw new Error(`tracer down: ${name}`);
        return span;
      },
    }) as never,
});
afterAll(() => trace.disable());
afterEach(() => {
  failStart.clear();
  failEnd = false;
});

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), ms))]);

describe('a tracer that throws', () => {
  it('does not stop a release: the key is freed in the store and the next waiter in line takes it at once', async () => {
    const backend = new ScriptedBackend(); // no handOver: every release goes to the store
    const locker = createLocker(backend, { ttl: '10s', wait: Infinity });
    const first = await locker.acquire('k');
    backend.acquireScript = { status: 'held' };
    const second = locker.acquire('k');
    const third = locker.acquire('k'); // next in line once `second` holds: left asleep until its release
    await new Promise((resolve) => setTimeout(resolve, 20));
    backend.acquireScript = { status: 'acquired', fence: 2 };
    await first.release();
    const held = await second;
    backend.acquireScript = { status: 'acquired', fence: 3 };
    failStart.add('leasekit.release');
    await expect(held.release()).resolves.toBe(true);
    expect(backend.calls.filter((call) => call.op === 'release')).toHaveLength(2);
    // Its wait is infinite: only the release's own wake-up can get it going.
    const lease = await within(third, 1_000);
    expect((lease as Lease).fence).toBe(3);
    await locker.close();
  });

  it('on ending a span, leaves the acquire and the release their outcome', async () => {
    const backend = new ScriptedBackend();
    const locker = createLocker(backend, { ttl: '10s' });
    failEnd = true;
    const lease = await locker.acquire('k');
    expect(lease.fence).toBe(1);
    await expect(lease.release()).resolves.toBe(true);
    await expect(locker.tryAcquire('k')).resolves.not.toBeNull();
    await locker.close();
  });

  it('does not stop renewals, nor the loss signal when the store says the lease is gone', async () => {
    const backend = new ScriptedBackend();
    const locker = createLocker(backend, { ttl: '300ms', mode: 'lease' });
    failStart.add('leasekit.renew');
    failStart.add('leasekit.lost');
    const lost: LeaseLostError[] = [];
    const lease = await locker.acquire('k', { onLost: (error) => lost.push(error) });
    await new Promise((resolve) => setTimeout(resolve, 400)); // past the TTL: renewed, or lost
    expect(backend.count('renew')).toBeGreaterThan(0);
    expect(lease.signal.aborted).toBe(false);
    backend.renewScript = { status: 'lost', detail: 'taken' };
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lease.signal.aborted).toBe(true);
    expect(lost).toHaveLength(1);
    await locker.close();
  });
});
