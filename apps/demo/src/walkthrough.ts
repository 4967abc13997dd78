/**
 * The embedded-defaults demo: one process, the in-memory backend, two workers. It takes a lease,
 * keeps it by renewal past several TTLs, loses it when another worker takes the key over, and
 * shows a timeout lock expiring and fencing tokens increasing. Run: `./dev demo library`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocker, type LeaseLostError, type LockerHooks } from '@leasekit/core';
import { createMemoryBackend, createMemoryStore } from '@leasekit/memory';

const started = performance.now();
const log = (who: string, message: string) =>
  console.log(
    `${`+${((performance.now() - started) / 1000).toFixed(3)}s`.padStart(9)}  ${who.padEnd(9)} ${message}`,
  );

const hooks = (who: string): LockerHooks => ({
  acquired: (e) => log(who, `acquired ${e.key} (${e.mode}, fence ${e.fence}, ${e.attempts} attempt(s))`),
  renewed: (e) => log(who, `renewed ${e.key} in ${e.durationMs.toFixed(2)} ms`),
  lost: (e) => log(who, `LOST ${e.key}: ${e.error.reason} (${e.error.message})`),
  released: (e) => log(who, `released ${e.key} after ${e.heldMs.toFixed(0)} ms (was held: ${e.wasHeld})`),
});

// Two "processes" share one store, as two services share a Redis server.
const store = createMemoryStore();
const workerA = createLocker(createMemoryBackend({ store }), { ttl: '1s', hooks: hooks('worker-a') });
const workerB = createLocker(createMemoryBackend({ store }), { ttl: '1s', hooks: hooks('worker-b') });

log('demo', 'lease lock: worker-a takes orders:42 with a 1 s TTL and keeps it by renewal');
const lease = await workerA.acquire('orders:42', { mode: 'lease' });
lease.signal.addEventListener('abort', () =>
  log('worker-a', `signal aborted: ${(lease.signal.reason as LeaseLostError).reason}, stop writing now`),
);
await sleep(2_500);
log('demo', `2.5 s later worker-a still holds it: held=${lease.held}`);
log(
  'worker-b',
  `tryAcquire orders:42 -> ${(await workerB.tryAcquire('orders:42')) === null ? 'null (held)' : 'lease'}`,
);

log('demo', "the store drops worker-a's holding (as if a pause outlived the TTL) and worker-b takes over");
await createMemoryBackend({ store }).forceExpire('orders:42');
const successor = await workerB.acquire('orders:42', { wait: '2s' });
log(
  'worker-b',
  `fence ${successor.fence} > worker-a's fence ${lease.fence}: the resource can refuse worker-a's late writes`,
);
await sleep(600);
await successor.release();

log('demo', 'timeout lock: worker-a takes jobs:7 for 500 ms and never renews it');
const timeoutLock = await workerA.acquire('jobs:7', { mode: 'timeout', ttl: '500ms' });
await new Promise((resolve) => timeoutLock.signal.addEventListener('abort', resolve, { once: true }));
const next = await workerB.acquire('jobs:7', { wait: '1s' });
log('worker-b', `got jobs:7 after it expired (fence ${next.fence})`);
await next.release();

log('demo', 'withLease: the routine runs 1.5 s under a 1 s TTL; renewal keeps it and release follows');
const total = await workerB.withLease('report:daily', async (signal) => {
  await sleep(1_500, undefined, { signal });
  return 3;
});
log('worker-b', `withLease returned ${total}`);

await Promise.all([workerA.close(), workerB.close()]);
log('demo', 'closed both lockers: no timers left, the process exits');
