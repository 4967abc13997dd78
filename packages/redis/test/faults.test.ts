import { setTimeout as sleep } from 'node:timers/promises';
import { createLocker, isLeaseError, type LeaseLostError, type QuorumNotReachedError } from '@leasekit/core';
import { type RedisServer, startRedisServers } from '@leasekit/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend, type RedisBackendOptions } from '../src/index.js';
import {
  adminClients,
  closeAll,
  connectedLockClients,
  eventually,
  hasRedisServer,
  holders,
  uniqueKey,
} from './helpers.js';

/**
 * Resumes stopped servers and waits until they have answered: a node that left commands
 * unanswered for longer than `nodeTimeout` is refused as stalled until its answers arrive, and
 * those take a moment after SIGCONT (under load, longer than the next operation of a test).
 */
async function resumeAnswered(
  servers: readonly RedisServer[],
  admin: readonly Redis[],
  indexes: readonly number[],
) {
  for (const index of indexes) servers[index]!.resume();
  await Promise.all(indexes.map((index) => admin[index]!.ping()));
  // The server answered the lock clients' backlog in the same loop turn as the admin's PING (it
  // was read first); give this process a turn to read those answers too.
  await sleep(10);
}

// These tests stop and kill servers, so they start their own instead of sharing the project's.
describe.skipIf(!hasRedisServer)('faults on real redis-server processes (3 nodes)', () => {
  let servers: RedisServer[] = [];
  let admin: Redis[] = [];
  const backends: RedisBackend[] = [];
  const backend = (extra: Omit<RedisBackendOptions, 'nodes'> = {}) => {
    const created = createRedisBackend(
      extra.clients
        ? { nodeTimeout: 50, ...extra }
        : { nodes: servers.map((server) => server.url), nodeTimeout: 50, ...extra },
    );
    backends.push(created);
    return created;
  };

  beforeAll(async () => {
    servers = await startRedisServers(3);
    admin = adminClients(servers.map((server) => server.url));
  });
  afterEach(async () => {
    // Every test leaves the servers running and answering.
    for (const server of servers) if (server.running) server.resume();
    await Promise.all(backends.splice(0).map((created) => created.close()));
  });
  afterAll(async () => {
    await closeAll(admin);
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('one node stopped (SIGSTOP): acquisitions still succeed, without waiting for it', async () => {
    // With a per-node timeout of 1 s, any wait for the stopped node would show.
    const locker = createLocker(backend({ nodeTimeout: 1_000 }), { ttl: '5s', wait: 0 });
    servers[2]!.pause();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const lease = await locker.acquire(uniqueKey('one-stopped'));
      times.push(performance.now() - started);
      expect(await lease.release()).toBe(true);
    }
    times.sort((a, b) => a - b);
    // A quorum of two answers long before the stopped node's timeout.
    expect(times[10]!).toBeLessThan(100);
    expect(times[19]!).toBeLessThan(1_000);
    await locker.close();
  });

  it('fences increase when successive holders reach different quorums ({A,B}, {B,C}, {A,C}: a maximum of per-node counters would repeat)', async () => {
    const locker = createLocker(backend(), { ttl: '5s', wait: 0 });
    const key = uniqueKey('quorums');
    const fences: number[] = [];
    for (const stopped of [2, 0, 1, 2, 0, 1]) {
      servers[stopped]!.pause();
      const lease = await locker.acquire(key);
      fences.push(lease.fence!);
      expect(await lease.release()).toBe(true);
      await resumeAnswered(servers, admin, [stopped]);
    }
    for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!);
    await locker.close();
  });

  it('two of three stopped: acquire fails within its wait with QUORUM_NOT_REACHED, and leaves no key behind', async () => {
    // Connected first, then the nodes go silent.
    const clients = await connectedLockClients(servers.map((server) => server.url));
    const locker = createLocker(backend({ clients }), { ttl: 500, wait: 0 });
    const key = uniqueKey('two-stopped');
    servers[1]!.pause();
    servers[2]!.pause();
    const started = performance.now();
    const error = (await locker
      .acquire(key, { wait: 300 })
      .catch((e: unknown) => e)) as QuorumNotReachedError;
    const elapsed = performance.now() - started;
    expect(isLeaseError(error, 'QUORUM_NOT_REACHED')).toBe(true);
    expect(elapsed).toBeLessThan(300 + 50 + 100);
    expect(error.quorum).toBe(2);
    expect(error.nodes.map((node) => node.outcome)).toEqual(['ok', 'timeout', 'timeout']);
    expect(error.message).toMatch(/quorum of 2 not reached: 1 ok, 2 timeout of 3 nodes/);
    expect(error.message).toContain(
      `127.0.0.1:${servers[1]!.port}: no answer from 127.0.0.1:${servers[1]!.port} within 50 ms`,
    );
    // The node that answered was unlocked at once (the unlock was sent without waiting).
    expect(
      await eventually(
        () => holders(admin.slice(0, 1), key),
        ([token]) => token === null,
      ),
    ).toEqual([null]);
    // The stopped nodes run their queued SETs when resumed, and the unlocks queued behind them.
    await sleep(500);
    servers[1]!.resume();
    servers[2]!.resume();
    const unlocked = (tokens: (string | null)[]) => tokens.every((token) => token === null);
    expect(await eventually(() => holders(admin, key), unlocked)).toEqual([null, null, null]);
    await locker.close();
    await closeAll(clients);
  });

  it('a node silent for socketTimeout has its connection dropped, failing what waits on it, and comes back', async () => {
    const clients = await connectedLockClients(
      servers.map((server) => server.url),
      { socketTimeout: 200 },
    );
    const dropped = new Promise<void>((resolve) => clients[2]!.once('close', () => resolve()));
    const locker = createLocker(backend({ clients }), { ttl: '5s', wait: 0 });
    servers[2]!.pause();
    const started = performance.now();
    // Failed when the connection is dropped (ioredis names maxRetriesPerRequest, 0, as the reason).
    const pending = clients[2]!.get('lk-redis-test:never-answered').then(
      () => 'answered',
      () => performance.now() - started,
    );
    // Acquisitions go on with the other two meanwhile.
    while (performance.now() - started < 400)
      expect(await (await locker.acquire(uniqueKey('silent'))).release()).toBe(true);
    await dropped;
    const failedAfter = await pending;
    expect(failedAfter).toBeGreaterThanOrEqual(190);
    expect(failedAfter).toBeLessThan(1_000);
    // Answering again, it is reconnected and counts: with another node stopped, a quorum needs it.
    servers[2]!.resume();
    await new Promise((resolve) =>
      clients[2]!.status === 'ready' ? resolve(null) : clients[2]!.once('ready', resolve),
    );
    servers[0]!.pause();
    const lease = await locker.acquire(uniqueKey('back'));
    expect(await lease.release()).toBe(true);
    servers[0]!.resume();
    await locker.close();
    await closeAll(clients);
  });

  it('a node the backend connected keeps the socketTimeout bound', async () => {
    const created = backend({ nodeTimeout: 100, clientOptions: { socketTimeout: 300 } });
    const warmKey = uniqueKey('watchdog-warm');
    expect((await created.tryAcquire({ key: warmKey, token: 't', ttlMs: 5_000 })).status).toBe('acquired');
    await eventually(
      () => holders(admin, warmKey),
      (tokens) => tokens.every((token) => token === 't'),
    );
    // Silent with commands waiting: dropped after 300 ms, not only refused as stalled.
    servers[1]!.pause();
    servers[2]!.pause();
    const probe = () =>
      created
        .tryAcquire({ key: uniqueKey('watchdog-probe'), token: 't', ttlMs: 5_000 })
        .catch((e: unknown) => e) as Promise<QuorumNotReachedError>;
    const first = await probe();
    expect(first.nodes.map((node) => node.outcome)).toEqual(['ok', 'timeout', 'timeout']);
    const dropped = await eventually(
      probe,
      (error) => /is not connected/.test(String(error.nodes?.[2]?.error)),
      3_000,
    );
    expect(String(dropped.nodes[2]!.error)).toMatch(/is not connected \((connect|connecting|reconnecting)\)/);
    servers[1]!.resume();
    // Answering again, it is reconnected and takes part.
    servers[2]!.resume();
    const back = await eventually(
      async () => {
        const key = uniqueKey('watchdog-back');
        await created.tryAcquire({ key, token: 't2', ttlMs: 5_000 }).catch(() => undefined);
        await sleep(20); // the third node's SET may land after the quorum's
        return holders(admin, key);
      },
      (tokens) => tokens.every((token) => token === 't2'),
      5_000,
    );
    expect(back).toEqual(['t2', 't2', 't2']);
  });

  it('commands for a node that is reconnecting fail at once instead of queueing for it', async () => {
    // A stopped server still accepts TCP connections: its client reconnects and then sits in
    // `connect`, its ready check unanswered, for a whole socket timeout (here 2 s).
    const clients = await connectedLockClients(servers.map((server) => server.url));
    const created = backend({ clients, nodeTimeout: 500 });
    servers[1]!.pause();
    servers[2]!.pause();
    for (const client of clients.slice(1)) client.stream.destroy(); // as a socket timeout would
    await Promise.all(
      clients.slice(1).map(
        (client) =>
          new Promise<void>((resolve) => {
            const check = () => (client.status === 'connect' ? resolve() : setTimeout(check, 5));
            check();
          }),
      ),
    );
    const error = (await created
      .tryAcquire({ key: uniqueKey('reconnecting'), token: 't', ttlMs: 5_000 })
      .catch((e: unknown) => e)) as QuorumNotReachedError;
    expect(isLeaseError(error, 'QUORUM_NOT_REACHED')).toBe(true);
    // Refused at once, not timed out after 500 ms (which also decided the outcome before node
    // 0's answer was needed).
    expect(error.nodes.slice(1).map((node) => node.outcome)).toEqual(['error', 'error']);
    expect(String(error.nodes[1]!.error)).toMatch(/is not connected \(connect\)/);
    expect(error.message).toMatch(/is not connected \(connect\)/);
    servers[1]!.resume();
    servers[2]!.resume();
    await closeAll(clients);
  });

  it('a stopped node that keeps its connection gets no new commands once silent for the node timeout, and is used again once it answers', async () => {
    const created = backend({ nodeTimeout: 200 });
    const warmKey = uniqueKey('stall-warm');
    const warm = await created.tryAcquire({ key: warmKey, token: 't', ttlMs: 5_000 });
    expect(warm.status).toBe('acquired');
    // Every node connected and answering before two are stopped (the grant needed only two).
    await eventually(
      () => holders(admin, warmKey),
      (tokens) => tokens.every((token) => token === 't'),
    );
    servers[1]!.pause();
    servers[2]!.pause();
    // Written to the stopped nodes, unanswered: each waits out the node timeout.
    const first = (await created
      .tryAcquire({ key: uniqueKey('stall-first'), token: 't', ttlMs: 5_000 })
      .catch((e: unknown) => e)) as QuorumNotReachedError;
    expect(first.nodes.map((node) => node.outcome)).toEqual(['ok', 'timeout', 'timeout']);
    // Silent for more than the node timeout with commands waiting: refused before writing.
    await sleep(50);
    const refused = (await created
      .tryAcquire({ key: uniqueKey('stall-refused'), token: 't', ttlMs: 5_000 })
      .catch((e: unknown) => e)) as QuorumNotReachedError;
    expect(isLeaseError(refused, 'QUORUM_NOT_REACHED')).toBe(true);
    // (Decided by the two refusals, before node 0's answer was needed.)
    expect(refused.nodes.slice(1).map((node) => node.outcome)).toEqual(['error', 'error']);
    expect(String(refused.nodes[2]!.error)).toMatch(/has not answered for 200 ms \(stalled\)/);
    servers[1]!.resume();
    servers[2]!.resume();
    // Their answers (to what was written before) end the stall: all three nodes take the next key.
    const key = uniqueKey('stall-over');
    const back = await eventually(
      () => created.tryAcquire({ key, token: 't2', ttlMs: 5_000 }).catch((e: unknown) => e),
      (outcome) => (outcome as { status?: string }).status === 'acquired',
    );
    expect(back).toMatchObject({ status: 'acquired' });
    expect(
      await eventually(
        () => holders(admin, key),
        (tokens) => tokens.every((token) => token === 't2'),
      ),
    ).toEqual(['t2', 't2', 't2']);
  });

  it('a node killed mid-hold: renewal goes on with the majority', async () => {
    const locker = createLocker(backend(), { ttl: 400 });
    const other = createLocker(backend(), { ttl: 400, wait: 0 });
    const key = uniqueKey('killed');
    const renewed: number[] = [];
    const watcher = createLocker(backend(), {
      ttl: 400,
      hooks: { renewed: () => renewed.push(performance.now()) },
    });
    const lease = await watcher.acquire(key, { mode: 'lease' });
    const victim = servers[2]!;
    await victim.kill();
    await sleep(1_200); // three TTLs
    expect(lease.held).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    expect(renewed.length).toBeGreaterThanOrEqual(3);
    expect(await other.tryAcquire(key)).toBeNull();
    expect(await lease.release()).toBe(true);
    await Promise.all([locker.close(), other.close(), watcher.close()]);
    // Bring the node back for the next tests (same port).
    const [replacement] = await startRedisServers(1);
    servers[2] = replacement!;
    await closeAll(admin);
    admin = adminClients(servers.map((server) => server.url));
  });

  it('a holder whose renewals fail sees its signal abort before the TTL', async () => {
    const ttl = 600;
    const locker = createLocker(backend(), { ttl });
    const key = uniqueKey('renewals-fail');
    const acquiredAt = performance.now(); // before the request left: the lease can be no older
    const lease = await locker.acquire(key, { mode: 'lease' });
    servers[0]!.pause();
    servers[1]!.pause();
    const reason = await new Promise<LeaseLostError>((resolve) =>
      lease.signal.addEventListener('abort', () => resolve(lease.signal.reason as LeaseLostError), {
        once: true,
      }),
    );
    const abortedAt = performance.now();
    expect(reason.code).toBe('LEASE_LOST');
    expect(reason.reason).toBe('renewal-failed');
    expect(abortedAt - acquiredAt).toBeLessThan(ttl);
    expect(abortedAt - acquiredAt).toBeGreaterThan(ttl / 3);
    servers[0]!.resume();
    servers[1]!.resume();
    await locker.close();
  });
});

describe.skipIf(!hasRedisServer)('five nodes', () => {
  let servers: RedisServer[] = [];
  let admin: Redis[] = [];
  beforeAll(async () => {
    servers = await startRedisServers(5);
    admin = adminClients(servers.map((server) => server.url));
    // Nodes new to leasekit have their fence counters compared with the others' in the
    // background (see "Checks at connect" in the README): let that finish before the tests pause
    // nodes, or its commands are what a paused node leaves unanswered.
    const first = createRedisBackend({ nodes: servers.map((server) => server.url) });
    await first.tryAcquire({ key: uniqueKey('marker'), token: 'm', ttlMs: 1_000 });
    await eventually(
      () => Promise.all(admin.map((client) => client.get('leasekit:node-sync'))),
      (markers) => markers.every((marker) => marker !== null),
      5_000,
    );
    await first.close();
  });
  afterAll(async () => {
    for (const server of servers) server.resume(); // a failed test may have left some stopped
    await closeAll(admin);
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('holds with 3 of 5 nodes, fails fast with 2 of 5, and fences increase across different quorums', async () => {
    const backend = createRedisBackend({ nodes: servers.map((server) => server.url), nodeTimeout: 50 });
    const locker = createLocker(backend, { ttl: '5s', wait: 0 });
    expect(backend.quorum).toBe(3);
    const key = uniqueKey('five');
    const fences: number[] = [];
    // Successive holders, each through a different majority: stop two nodes at a time.
    for (const stopped of [
      [3, 4],
      [0, 1],
      [1, 3],
      [0, 4],
      [2, 4],
    ]) {
      for (const index of stopped) servers[index]!.pause();
      const lease = await locker.acquire(key);
      fences.push(lease.fence!);
      expect(await lease.release()).toBe(true);
      await resumeAnswered(servers, admin, stopped);
    }
    for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!);
    for (const index of [0, 1, 2]) servers[index]!.pause();
    const error = await locker.tryAcquire(key).catch((e: unknown) => e);
    expect(isLeaseError(error, 'QUORUM_NOT_REACHED')).toBe(true);
    await resumeAnswered(servers, admin, [0, 1, 2]);
    await locker.close();
  });

  it('fences of local hand-overs stay strictly increasing when each run and each acquisition go through different quorums', async () => {
    const backend = createRedisBackend({ nodes: servers.map((server) => server.url), nodeTimeout: 50 });
    const other = createRedisBackend({ nodes: servers.map((server) => server.url), nodeTimeout: 50 });
    const options = { ttl: '5s', wait: '5s', localHandOvers: 2, tracing: false } as const;
    const handedOver: boolean[] = [];
    const locker = createLocker(backend, {
      ...options,
      hooks: { acquired: (event) => handedOver.push(event.handedOver) },
    });
    const elsewhere = createLocker(other, options);
    const key = uniqueKey('five-hand-over');
    // Both clients connected (and their connection checks answered) on all five nodes before any
    // pause: the faults are on an established deployment, not on connections still being made.
    for (const warm of [locker, elsewhere]) await (await warm.acquire(uniqueKey('warm'))).release();
    handedOver.length = 0;
    const fences: number[] = [];
    for (const [stopped, next] of [
      [
        [3, 4],
        [0, 1],
      ],
      [
        [1, 3],
        [2, 4],
      ],
      [
        [0, 4],
        [1, 2],
      ],
    ] as const) {
      for (const index of stopped) servers[index]!.pause();
      let holder = await locker.acquire(key);
      fences.push(holder.fence!);
      const waiters = [locker.acquire(key), locker.acquire(key)];
      await sleep(120); // the run's hand-over is drawn on the three live nodes
      await resumeAnswered(servers, admin, stopped);
      for (const index of next) servers[index]!.pause(); // the run goes on; the next acquisition uses another majority
      for (const waiter of waiters) {
        await holder.release();
        holder = await waiter;
        fences.push(holder.fence!);
      }
      await holder.release();
      const between = await elsewhere.acquire(key);
      fences.push(between.fence!);
      await between.release();
      await resumeAnswered(servers, admin, next);
    }
    expect(handedOver).toEqual([false, true, true, false, true, true, false, true, true]);
    for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!);
    await Promise.all([locker.close(), elsewhere.close()]);
  });
});
