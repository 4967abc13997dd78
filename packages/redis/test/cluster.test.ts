import { randomUUID } from 'node:crypto';
import { createLocker } from '@leasekit/core';
import { type RedisServer, redisCommand, startRedisServer } from '@leasekit/testing';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, lockClientOptions } from '../src/index.js';
import { hasRedisServer, uniqueKey } from './helpers.js';

// A one-shard Redis Cluster (all 16384 slots on one redis-server), given to the backend as one node.
describe.skipIf(!hasRedisServer)('a Redis Cluster client as one node', () => {
  let server: RedisServer;
  let cluster: Cluster;

  beforeAll(async () => {
    server = await startRedisServer({
      args: [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-announce-ip',
        '127.0.0.1',
      ],
    });
    await redisCommand(server.host, server.port, 'CLUSTER ADDSLOTSRANGE 0 16383');
    for (
      let i = 0;
      !(await redisCommand(server.host, server.port, 'CLUSTER INFO')).includes('cluster_state:ok');
      i++
    ) {
      if (i > 200) throw new Error('the cluster did not come up');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    cluster = new Cluster([{ host: server.host, port: server.port }], {
      enableOfflineQueue: false,
      redisOptions: lockClientOptions,
    });
    cluster.on('error', () => {});
  });
  afterAll(async () => {
    cluster?.disconnect();
    await server?.stop();
  });

  it('acquires, renews in a batch across slots, wakes waiters and releases', async () => {
    const backend = createRedisBackend({ clients: [cluster] });
    const locker = createLocker(backend, { ttl: '5s', closeBackend: true });
    const keys = Array.from({ length: 5 }, () => uniqueKey('cluster'));
    const leases = await Promise.all(keys.map((key) => locker.acquire(key)));
    // Named by its masters, which ioredis lists once connected.
    expect(backend.nodes).toEqual([`cluster(${server.host}:${server.port})`]);
    expect(new Set(leases.map((lease) => lease.fence))).toEqual(new Set([1]));
    const outcomes = await backend.renewMany!(leases.map((lease) => ({ lease, ttlMs: 5_000 })));
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'renewed',
      'renewed',
      'renewed',
      'renewed',
      'renewed',
    ]);

    const waiter = createLocker(createRedisBackend({ clients: [cluster] }), {
      retry: { initial: '3s', max: '3s', maxJitter: 0 },
    });
    const waiting = waiter.acquire(keys[0]!, { wait: '5s' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const releasedAt = performance.now();
    await leases[0]!.release();
    const next = await waiting;
    expect(performance.now() - releasedAt).toBeLessThan(500);
    // Higher than the last holder's (not necessarily by one: the waiter's failed attempt counted too).
    expect(next.fence).toBeGreaterThan(leases[0]!.fence!);
    expect(await locker.inspect(keys[1]!)).toMatchObject({ held: true, token: leases[1]!.token });
    await next.release();
    await Promise.all([waiter.close(), locker.close()]);
    expect(cluster.status).toBe('ready'); // a client the caller gave is not closed
    expect(
      (await backend.tryAcquire({ key: keys[1]!, token: randomUUID(), ttlMs: 1_000 }).catch((e) => e)).code,
    ).toBe('CLOSED');
  });
});
