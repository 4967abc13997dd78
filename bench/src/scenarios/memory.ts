/**
 * The in-memory backend against the floor (a Map check-and-set, no locker) and async-mutex
 * (an in-process keyed mutex). Everything runs in this process: no server, no I/O.
 */
import { createLocker, type Locker } from '@leasekit/core';
import { createMemoryBackend, type MemoryBackend } from '@leasekit/memory';
import { Mutex } from 'async-mutex';
import { type FloorLock, floorLockContender } from '../floor.js';
import { defineScenario, type LockContenderSpec, lockContender, uniformKeys } from '../registry.js';
import type { Contender, Scenario } from '../types.js';
import { packageVersion } from '../versions.js';

type NoEnv = undefined;

export function leasekitMemory(options: { hint: boolean } = { hint: true }): Contender<NoEnv, Locker> {
  const spec: LockContenderSpec<NoEnv, Locker> = {
    name: options.hint ? 'leasekit (memory)' : 'leasekit (memory, no hint)',
    role: 'leasekit',
    note: options.hint
      ? "createLocker(createMemoryBackend()) with default options (timeout mode, ttl '30s'): acquire(key), then lease.release()"
      : "the same, with the memory backend's released() hint removed (a store without notifications): waiters are woken by the locker's own releases and their backoff timers",
    setup() {
      const backend = createMemoryBackend();
      return createLocker(options.hint ? backend : withoutHint(backend));
    },
    async acquire(locker, key) {
      const lease = await locker.acquire(key);
      return () => lease.release();
    },
    teardown: (locker) => locker.close(),
  };
  return lockContender(spec);
}

/** The memory backend minus `released()`: what a backend without change notifications offers. */
function withoutHint(backend: MemoryBackend): Omit<MemoryBackend, 'released'> {
  const { released: _hint, ...rest } = backend;
  return rest;
}

const floor: Contender<NoEnv, FloorLock> = floorLockContender({
  name: 'floor (Map check-and-set)',
  role: 'floor',
  note: 'a plain Map: check-and-set of a randomUUID() token, compare-and-delete on release, async like a backend, FIFO wake-one waiters; no locker, TTL, fencing or validation',
});

const asyncMutex: Contender<NoEnv, Map<string, Mutex>> = lockContender({
  name: 'async-mutex',
  role: 'peer',
  note: `async-mutex ${packageVersion('async-mutex')}: one Mutex per key in a Map, acquire() then the releaser; in-process only (no TTL, token or fencing)`,
  setup: () => new Map<string, Mutex>(),
  async acquire(mutexes, key) {
    let mutex = mutexes.get(key);
    if (!mutex) {
      mutex = new Mutex();
      mutexes.set(key, mutex);
    }
    return mutex.acquire();
  },
});

export const memoryScenarios: readonly Scenario<NoEnv>[] = [
  defineScenario<NoEnv>({
    id: 'memory/acquire-release',
    title: 'acquire+release, sequential (memory)',
    description:
      'One caller takes and releases one uncontended key, over and over: the cost of the locker itself on a backend that does no I/O.',
    load: { mode: 'latency', durationMs: 1000 },
    contenders: [leasekitMemory(), floor, asyncMutex],
  }),
  defineScenario<NoEnv>({
    id: 'memory/many-keys',
    title: '50 workers on 1,000 keys (memory)',
    description:
      'Fifty concurrent workers each take and release a key drawn at random from 1,000 (little contention): throughput of many independent locks.',
    load: { mode: 'throughput', workers: 50, durationMs: 1000 },
    keys: uniformKeys('bench:k', 1000),
    contenders: [leasekitMemory(), floor, asyncMutex],
  }),
  defineScenario<NoEnv>({
    id: 'memory/hot-key',
    title: 'hot keys: 50 workers on 5 keys, 1 ms hold (memory)',
    description:
      'Fifty workers take a key drawn from five, hold it 1 ms, release it: handovers per second, and how long a worker waits for the lock (p50/p99 are the wait).',
    load: { mode: 'throughput', workers: 50, durationMs: 1200 },
    keys: uniformKeys('bench:hot', 5),
    holdMs: 1,
    latency: 'wait',
    contenders: [leasekitMemory(), leasekitMemory({ hint: false }), floor, asyncMutex],
  }),
  defineScenario<NoEnv>({
    id: 'memory/one-key',
    title: 'one key: 10 workers, 1 ms hold (memory)',
    description:
      'Ten workers queue for a single key, hold it 1 ms, release it: whether every waiter gets its turn (fairness, max wait) when the lock is handed over back to back.',
    load: { mode: 'throughput', workers: 10, durationMs: 1000 },
    keys: () => 'bench:one',
    holdMs: 1,
    latency: 'wait',
    contenders: [leasekitMemory(), leasekitMemory({ hint: false }), floor, asyncMutex],
  }),
];
