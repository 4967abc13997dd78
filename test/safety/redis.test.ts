/**
 * Redis (Redlock over 3 nodes): the holder paused past its TTL, nodes paused, killed, emptied
 * of their lock keys and restarted empty, and a fault proxy in front of the nodes. Each scenario
 * gets its own three redis-server processes.
 */
import { createLocker, isLeaseError } from '@leasekit/core';
import { createRedisBackend } from '@leasekit/redis';
import { describe, expect, it } from 'vitest';
import { runLength, runScenario, type ScenarioOptions, sleep } from './harness.js';
import type { ClientConfig } from './records.js';
import { type RedisCluster, startRedisCluster } from './redis-cluster.js';

const TTL = 1_000;
const PAUSE = 2_500;
const PREFIX = 'safety:';
const BACKEND = 'redis (3 nodes)';

function clientsOf(cluster: RedisCluster, key: string, durationMs = runLength(3_000)) {
  return (): Omit<ClientConfig, 'name' | 'checkerUrl' | 'fencing'> => ({
    key,
    backend: { kind: 'redis', urls: cluster.urls, prefix: PREFIX },
    ttlMs: TTL,
    waitMs: 2_000,
    durationMs,
    holdMs: [5, 40],
  });
}

async function withCluster<T>(proxies: boolean, run: (cluster: RedisCluster) => Promise<T>): Promise<T> {
  const cluster = await startRedisCluster(proxies);
  try {
    return await run(cluster);
  } finally {
    await cluster.stop();
  }
}

type Fault = NonNullable<ScenarioOptions['fault']>;

async function scenario(
  name: string,
  inside: boolean,
  fencing: boolean,
  options: { proxies?: boolean; durationMs?: number; fault?: (cluster: RedisCluster) => Fault } = {},
) {
  return withCluster(options.proxies ?? false, (cluster) =>
    runScenario({
      backend: BACKEND,
      scenario: name,
      inside,
      fencing,
      clients: 3,
      client: clientsOf(cluster, 'counter', options.durationMs),
      ...(options.fault ? { fault: options.fault(cluster) } : {}),
    }),
  );
}

const holderPausedAtWrite: Fault = async ({ checker }) =>
  checker.arm({ at: 'write', pauseMs: PAUSE, afterWrites: 3 });
const holderPausedAtRead: Fault = async ({ checker }) =>
  checker.arm({ at: 'read', pauseMs: PAUSE, afterWrites: 3 });

describe('redis: the checker sees what it must', () => {
  it('no fault: 0 overlaps without fencing', async () => {
    const { result } = await scenario('no fault', true, false);
    expect(result.acceptedWrites).toBeGreaterThan(0);
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
  });

  it('holder paused past its TTL with its write in flight: overlaps without fencing', async () => {
    const { result } = await scenario('holder paused past TTL, write in flight', false, false, {
      durationMs: runLength(3_000) + PAUSE,
      fault: () => holderPausedAtWrite,
    });
    expect(result.overlappingWrites).toBeGreaterThan(0);
    expect(result.lostUpdates).toBeGreaterThan(0);
  });

  it('holder paused past its TTL with its write in flight: refused with fencing', async () => {
    const { result } = await scenario('holder paused past TTL, write in flight', false, true, {
      durationMs: runLength(3_000) + PAUSE,
      fault: () => holderPausedAtWrite,
    });
    expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
    expect(result.refusedByFence).toBeGreaterThan(0);
  });

  it('holder paused past its TTL before its write: its sections overlap, the signal stops the write', async () => {
    const { result, leases } = await scenario('holder paused past TTL, before its check', false, false, {
      durationMs: runLength(3_000) + PAUSE,
      fault: () => holderPausedAtRead,
    });
    expect(result.overlappingSections).toBeGreaterThan(0);
    expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
    const paused = leases.filter((l) => l.stalledAcrossDeadline);
    expect(paused.length).toBeGreaterThan(0);
    for (const lease of paused) expect(lease.wrote).toBe(false);
  });
});

describe('redis: one node of three (a majority alive): 0 overlaps without fencing', () => {
  const cases: Array<[string, (cluster: RedisCluster) => Fault]> = [
    [
      'one node paused (SIGSTOP) 2 s',
      (cluster) => async () => {
        await sleep(800);
        cluster.servers[0]?.pause();
        await sleep(2_000);
        cluster.servers[0]?.resume();
      },
    ],
    [
      'one node killed',
      (cluster) => async () => {
        await sleep(800);
        await cluster.servers[1]?.kill();
      },
    ],
    [
      "one node's lock key deleted every 20 ms",
      (cluster) => async () => {
        const until = performance.now() + runLength(3_000);
        while (performance.now() < until) {
          await cluster.expireLockKey(2, PREFIX, 'counter').catch(() => undefined);
          await sleep(20);
        }
      },
    ],
  ];
  for (const [name, fault] of cases) {
    it(name, async () => {
      const { result } = await scenario(name, true, false, { fault });
      expect(result).toMatchObject({
        overlappingSections: 0,
        overlappingWrites: 0,
        lostUpdates: 0,
        lossesLate: 0,
      });
      expect(result.acceptedWrites).toBeGreaterThan(0);
    });
  }

  const proxied: Array<[string, (cluster: RedisCluster) => Fault]> = [
    [
      'proxy: 40 ms latency to one node',
      (cluster) => async () => {
        cluster.proxies[0]?.set({ latencyMs: 40 });
      },
    ],
    [
      'proxy: one node blackholed 2 s',
      (cluster) => async () => {
        await sleep(800);
        cluster.proxies[1]?.set({ blackhole: true });
        await sleep(2_000);
        cluster.proxies[1]?.set({});
      },
    ],
    [
      'proxy: 10% of requests reset after forwarding, every node',
      (cluster) => async () => {
        for (const proxy of cluster.proxies) proxy.set({ resetAfterForward: 0.1 });
      },
    ],
  ];
  for (const [name, fault] of proxied) {
    it(name, async () => {
      const { result } = await scenario(name, true, false, { proxies: true, fault });
      expect(result).toMatchObject({
        overlappingSections: 0,
        overlappingWrites: 0,
        lostUpdates: 0,
        lossesLate: 0,
      });
      expect(result.acceptedWrites).toBeGreaterThan(0);
    });
  }
});

describe('redis: two nodes of three (no majority)', () => {
  const deleteOnTwo =
    (cluster: RedisCluster): Fault =>
    async () => {
      const until = performance.now() + runLength(3_000);
      while (performance.now() < until) {
        await Promise.all(
          [0, 1].map((i) => cluster.expireLockKey(i, PREFIX, 'counter').catch(() => undefined)),
        );
        await sleep(10);
      }
    };

  // Measured, not asserted: a holder whose keys vanish learns it at its next renewal, and waiters
  // sleep until the TTL the nodes reported, so the window is narrow (the pauses above prove the
  // checker sees overlaps).
  it('lock keys deleted early on two nodes, without fencing (measured)', async () => {
    const { result } = await scenario('lock keys deleted on two nodes', false, false, { fault: deleteOnTwo });
    expect(result.sections).toBeGreaterThan(0);
  });

  it('lock keys deleted early on two nodes: 0 overlapping writes with fencing', async () => {
    const { result } = await scenario('lock keys deleted on two nodes', false, true, { fault: deleteOnTwo });
    expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0 });
  });

  it('two nodes paused: QUORUM_NOT_REACHED, losses signalled before the deadline, 0 overlaps', async () => {
    const { result } = await scenario('two nodes paused 2 s', false, false, {
      fault: (cluster) => async () => {
        await sleep(800);
        cluster.servers[0]?.pause();
        cluster.servers[1]?.pause();
        await sleep(2_000);
        cluster.servers[0]?.resume();
        cluster.servers[1]?.resume();
      },
    });
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
    // Acquires in the outage fail: QUORUM_NOT_REACHED, or ACQUIRE_TIMEOUT once the wait ran out on it.
    expect(Object.values(result.failureCodes).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('two nodes down: the holder is told before its deadline, acquire fails with QUORUM_NOT_REACHED, nothing is left locked after the TTL', async () => {
    await withCluster(false, async (cluster) => {
      const holder = createLocker(createRedisBackend({ nodes: cluster.urls, prefix: PREFIX }), { ttl: TTL });
      const other = createLocker(createRedisBackend({ nodes: cluster.urls, prefix: PREFIX }), { ttl: TTL });
      try {
        const lease = await holder.acquire('k', { mode: 'lease' });
        let deadline = performance.now() + lease.remainingMs;
        const tracker = setInterval(() => {
          if (lease.held) deadline = performance.now() + lease.remainingMs;
        }, 2);
        const lost = new Promise<number>((resolve) =>
          lease.signal.addEventListener('abort', () => resolve(performance.now())),
        );
        cluster.servers[0]?.pause();
        await cluster.servers[1]?.kill();
        const lossAt = await lost;
        clearInterval(tracker);
        expect(lossAt).toBeLessThanOrEqual(deadline);
        const attempt = await other.tryAcquire('k').then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(isLeaseError(attempt, 'QUORUM_NOT_REACHED')).toBe(true);
        cluster.servers[0]?.resume();
        await sleep(TTL + 100);
        // Only node 0 and 2 are left: a majority of three; what any attempt left there has expired or was unlocked.
        // (node 0's connection is re-made after its pause: the acquire may wait for that, not for a lock)
        const after = await other.acquire('k', { wait: 3_000 });
        await after.release();
      } finally {
        await Promise.all([holder.close(), other.close()]);
      }
    });
  });
});

describe('redis: a node restarted empty', () => {
  it('restarted after a TTL (the documented delayed restart): 0 overlaps without fencing', async () => {
    const { result } = await scenario('node restarted empty after a TTL', true, false, {
      proxies: true,
      fault: (cluster) => async () => {
        await sleep(500);
        cluster.proxies[1]?.set({ blackhole: true });
        await cluster.servers[1]?.kill();
        await sleep(TTL + 200);
        await cluster.restartEmpty(1);
        cluster.proxies[1]?.set({});
      },
    });
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
  });

  // Issue 19, gap 2: fence counters are not brought up on a node that restarted empty.
  it.fails('fences keep increasing when a node restarted empty joins the next quorum (issue 19 gap 2)', async () => {
    await withCluster(true, async (cluster) => {
      const locker = createLocker(createRedisBackend({ nodes: cluster.urls, prefix: PREFIX }), { ttl: TTL });
      try {
        // Holders on {A, B} while C is cut off: A's and B's counters run ahead of C's.
        cluster.proxies[2]?.set({ blackhole: true });
        let highest = 0;
        for (let i = 0; i < 5; i += 1) {
          const lease = await locker.acquire('fenced', { wait: 3_000 });
          highest = Math.max(highest, lease.fence ?? 0);
          await lease.release();
        }
        cluster.proxies[2]?.set({});
        await cluster.restartEmpty(1);
        await sleep(TTL + 200);
        // The next holder's quorum is {B (empty), C}.
        cluster.proxies[0]?.set({ blackhole: true });
        const lease = await locker.acquire('fenced', { wait: 3_000 });
        expect(lease.fence ?? 0).toBeGreaterThan(highest);
        await lease.release();
      } finally {
        for (const proxy of cluster.proxies) proxy.set({});
        await locker.close();
      }
    });
  });
});
