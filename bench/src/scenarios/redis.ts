/**
 * Redlock over three redis-server processes (started by @leasekit/testing, pinned to the server
 * core): leasekit against the floor (parallel SET NX PX + Lua compare-and-delete on raw ioredis,
 * no library) and three peers, @sesamecare-oss/redlock, redlock-universal and redis-semaphore's
 * RedlockMutex. Every contender gets the same three ioredis clients' settings
 * (leasekit's `lockClientOptions`: no offline queue, no resend, 2 s socket timeout; leasekit's
 * backend creates its clients from the URLs and keeps that timeout with its own per-node
 * watchdog instead of ioredis' per-read timer), the same
 * TTL, the same keys (under its own prefix) and, where it retries, a 10 ms retry step.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocker, type LeaseRef, type Locker } from '@leasekit/core';
import { createLockClient, createRedisBackend, type RedisBackend } from '@leasekit/redis';
import { type RedisServer, startRedisServers } from '@leasekit/testing';
import { type Lock as SesameLock, Redlock as SesameRedlock } from '@sesamecare-oss/redlock';
import type { Redis } from 'ioredis';
import { RedlockMutex } from 'redis-semaphore';
import {
  createRedlock,
  IoredisAdapter,
  type LockHandle,
  type Lock as UniversalLock,
} from 'redlock-universal';
import { type DelayProxy, startDelayProxy } from '../delay-proxy.js';
import { type FloorLock, floorLockContender } from '../floor.js';
import { pinServer } from '../pin.js';
import { defineScenario, lockContender, uniformKeys } from '../registry.js';
import { type Contender, type OpContext, type Scenario, SkipScenario } from '../types.js';
import { packageVersion } from '../versions.js';

const TTL_MS = 10_000;
const RETRY_MS = 10;
const WAIT_MS = 10_000;
const NODES = 3;
/** How late the slow node of the slow-node scenario answers. */
const SLOW_NODE_DELAY_MS = 5;

export interface RedisEnv {
  readonly servers: readonly RedisServer[];
  readonly urls: readonly string[];
  /** SIGSTOP this node once a contender's clients are connected (the stopped-node scenario). */
  readonly stopped?: number;
  /** The proxy in front of the last node, answering late (the slow-node scenario); `urls` point at it. */
  readonly proxy?: DelayProxy;
}

export async function startRedis(stopped?: number): Promise<RedisEnv> {
  let servers: RedisServer[];
  try {
    servers = await startRedisServers(NODES);
  } catch (error) {
    throw new SkipScenario(error instanceof Error ? error.message : String(error));
  }
  await Promise.all(servers.map((server) => pinServer(server.pid)));
  return {
    servers,
    urls: servers.map((server) => server.url),
    ...(stopped === undefined ? {} : { stopped }),
  };
}

/** Three servers, the last one reached through a proxy that delivers its answers `delayMs` late. */
async function startRedisSlowed(delayMs: number): Promise<RedisEnv> {
  const env = await startRedis();
  const last = env.servers[NODES - 1]!;
  const proxy = await startDelayProxy(Number(new URL(last.url).port), delayMs);
  const urls = [...env.urls.slice(0, -1), `redis://127.0.0.1:${proxy.port}`];
  return { ...env, urls, proxy };
}

export async function stopRedis(env: RedisEnv): Promise<void> {
  await env.proxy?.stop();
  await Promise.all(env.servers.map((server) => server.stop()));
}

/** Connected clients, one per node, with the settings every contender gets. */
async function connect(env: RedisEnv): Promise<Redis[]> {
  const clients = env.urls.map((url) => createLockClient(url));
  await Promise.all(
    clients.map(async (client) => {
      client.on('error', () => {});
      if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    }),
  );
  return clients;
}

/** Stops the scenario's slow node once the contender is connected; `resume` undoes it in teardown. */
function stopSlowNode(env: RedisEnv): void {
  if (env.stopped !== undefined) env.servers[env.stopped]!.pause();
}

function resumeSlowNode(env: RedisEnv): void {
  if (env.stopped !== undefined) env.servers[env.stopped]!.resume();
}

const pids = (env: RedisEnv) => env.servers.map((server) => server.pid);

async function disconnect(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
}

// ---- contenders ----

interface LeasekitState {
  readonly env: RedisEnv;
  readonly backend: RedisBackend;
  readonly locker: Locker;
}

const leasekit: Contender<RedisEnv, LeasekitState> = lockContender<RedisEnv, LeasekitState>({
  name: 'leasekit (redis)',
  role: 'leasekit',
  note: `createLocker(createRedisBackend({ nodes })) with default options (quorum 2 of 3, fencing on, release notifications on, timeout mode; its own clients, with lockClientOptions), ttl ${TTL_MS} ms, wait ${WAIT_MS} ms: acquire(key), then lease.release()`,
  async setup(env) {
    const backend = createRedisBackend({ nodes: env.urls, prefix: 'bench-lk:' });
    const locker = createLocker(backend, { ttl: TTL_MS, wait: WAIT_MS });
    await (await locker.acquire(`warm-up:${randomUUID()}`)).release(); // connect, load the scripts
    stopSlowNode(env);
    return { env, backend, locker };
  },
  async acquire(state, key) {
    const lease = await state.locker.acquire(key);
    return () => lease.release();
  },
  async teardown(state) {
    resumeSlowNode(state.env);
    await state.locker.close();
  },
  serverPids: (state) => pids(state.env),
});

const FLOOR_RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

interface FloorState {
  readonly env: RedisEnv;
  readonly clients: Redis[];
  readonly sha: string;
}

/** The least correct Redlock: SET NX PX on every node at once, quorum of answers, compare-and-delete everywhere. */
async function floorAcquire(state: FloorState, key: string, token: string): Promise<boolean> {
  const quorum = Math.floor(state.clients.length / 2) + 1;
  const replies = await Promise.allSettled(
    state.clients.map((client) => client.set(key, token, 'PX', TTL_MS, 'NX')),
  );
  const ok = replies.filter((reply) => reply.status === 'fulfilled' && reply.value === 'OK').length;
  if (ok >= quorum) return true;
  void floorRelease(state, key, token);
  return false;
}

function floorRelease(state: FloorState, key: string, token: string): Promise<unknown> {
  return Promise.allSettled(state.clients.map((client) => client.evalsha(state.sha, 1, key, token)));
}

const floor: Contender<RedisEnv, FloorState> = lockContender<RedisEnv, FloorState>({
  name: 'floor (SET NX + Lua delete)',
  role: 'floor',
  note: `raw ioredis, no library: SET key token NX PX ${TTL_MS} on the 3 nodes in parallel, waits for every answer, quorum 2; release is a Lua compare-and-delete (EVALSHA) on every node; held: retry after ${RETRY_MS} ms ± ${RETRY_MS} ms; no validity, fencing or notifications`,
  async setup(env) {
    const clients = await connect(env);
    const sha = String(await clients[0]!.script('LOAD', FLOOR_RELEASE));
    await Promise.all(clients.slice(1).map((client) => client.script('LOAD', FLOOR_RELEASE)));
    stopSlowNode(env);
    return { env, clients, sha };
  },
  async acquire(state, key) {
    const lockKey = `bench-floor:${key}`;
    const token = randomUUID();
    const giveUpAt = performance.now() + WAIT_MS;
    while (!(await floorAcquire(state, lockKey, token))) {
      if (performance.now() > giveUpAt) throw new Error('floor: still held after the wait');
      await sleep(Math.max(0, RETRY_MS + (Math.random() * 2 - 1) * RETRY_MS));
    }
    return () => floorRelease(state, lockKey, token);
  },
  async teardown(state) {
    resumeSlowNode(state.env);
    await disconnect(state.clients);
  },
  serverPids: (state) => pids(state.env),
});

interface SesameState {
  readonly env: RedisEnv;
  readonly clients: Redis[];
  readonly redlock: SesameRedlock;
}

const sesameRetryCount = Math.ceil(WAIT_MS / RETRY_MS);

const sesame: Contender<RedisEnv, SesameState> = lockContender<RedisEnv, SesameState>({
  name: '@sesamecare-oss/redlock',
  role: 'peer',
  note: `@sesamecare-oss/redlock ${packageVersion('@sesamecare-oss/redlock')}: new Redlock(clients, { retryCount: ${sesameRetryCount}, retryDelay: ${RETRY_MS}, retryJitter: ${RETRY_MS} }), acquire([key], ${TTL_MS}) then lock.release()`,
  async setup(env) {
    const clients = await connect(env);
    const redlock = new SesameRedlock(clients, {
      retryCount: sesameRetryCount,
      retryDelay: RETRY_MS,
      retryJitter: RETRY_MS,
    });
    redlock.on('error', () => {});
    stopSlowNode(env);
    return { env, clients, redlock };
  },
  async acquire(state, key) {
    const lock = await state.redlock.acquire([`bench-srl:${key}`], TTL_MS);
    return () => lock.release();
  },
  async teardown(state) {
    resumeSlowNode(state.env);
    await disconnect(state.clients);
  },
  serverPids: (state) => pids(state.env),
});

interface UniversalState {
  readonly env: RedisEnv;
  readonly clients: Redis[];
  readonly adapters: IoredisAdapter[];
  readonly locks: Map<string, UniversalLock>;
}

function universalLock(state: UniversalState, key: string): UniversalLock {
  let lock = state.locks.get(key);
  if (!lock) {
    lock = createRedlock({
      adapters: state.adapters,
      key: `bench-ru:${key}`,
      ttl: TTL_MS,
      retryAttempts: Math.ceil(WAIT_MS / RETRY_MS),
      retryDelay: RETRY_MS,
    });
    state.locks.set(key, lock);
  }
  return lock;
}

const universal: Contender<RedisEnv, UniversalState> = lockContender<RedisEnv, UniversalState>({
  name: 'redlock-universal',
  role: 'peer',
  note: `redlock-universal ${packageVersion('redlock-universal')}: createRedlock({ adapters: 3 × IoredisAdapter, key, ttl: ${TTL_MS}, retryAttempts: ${Math.ceil(WAIT_MS / RETRY_MS)}, retryDelay: ${RETRY_MS} }), one per key (cached), acquire() then release(handle)`,
  async setup(env) {
    const clients = await connect(env);
    stopSlowNode(env);
    return { env, clients, adapters: clients.map((client) => new IoredisAdapter(client)), locks: new Map() };
  },
  async acquire(state, key) {
    const lock = universalLock(state, key);
    const handle = await lock.acquire();
    return () => lock.release(handle);
  },
  async teardown(state) {
    resumeSlowNode(state.env);
    await disconnect(state.clients);
  },
  serverPids: (state) => pids(state.env),
});

interface SemaphoreState {
  readonly env: RedisEnv;
  readonly clients: Redis[];
}

const semaphoreOptions = {
  lockTimeout: TTL_MS,
  acquireTimeout: WAIT_MS,
  retryInterval: RETRY_MS,
  refreshInterval: 0,
};

const semaphore: Contender<RedisEnv, SemaphoreState> = lockContender<RedisEnv, SemaphoreState>({
  name: 'redis-semaphore RedlockMutex',
  role: 'peer',
  note: `redis-semaphore ${packageVersion('redis-semaphore')}: new RedlockMutex(clients, key, ${JSON.stringify(semaphoreOptions)}) per operation, acquire() then release() (refreshInterval 0: a timeout lock, as for the others)`,
  async setup(env) {
    const clients = await connect(env);
    stopSlowNode(env);
    return { env, clients };
  },
  async acquire(state, key) {
    const mutex = new RedlockMutex(state.clients, `bench-rs:${key}`, semaphoreOptions);
    await mutex.acquire();
    return () => mutex.release();
  },
  async teardown(state) {
    resumeSlowNode(state.env);
    await disconnect(state.clients);
  },
  serverPids: (state) => pids(state.env),
});

/** The hot-key workload with no store: the hold timer and this process are all that is left. */
const inProcessCeiling: Contender<RedisEnv, FloorLock> = floorLockContender({
  name: 'ceiling (in-process, no Redis)',
  role: 'ceiling',
  note: "the memory scenarios' Map floor (check-and-set, FIFO wake-one waiters) in this process: the same keys, workers and 1 ms hold with a hand-over that costs no round trip; no contender over the network can beat it",
});

const lockContenders = [leasekit, floor, sesame, universal, semaphore] as const;

/** The lock contenders by name: the multi-process scenario's worker processes run them. */
export const redisLockContenders: ReadonlyMap<string, Contender<RedisEnv>> = new Map(
  lockContenders.map((contender) => [contender.name, contender as Contender<RedisEnv>]),
);

// ---- renewal of many held leases ----

const HELD = 10_000;

/** Counts writes to each client's socket: one per round trip for a pipeline or a lone command. */
function countWrites(clients: readonly Redis[]): {
  readonly total: () => number;
  readonly restore: () => void;
} {
  let count = 0;
  const undo = clients.map((client) => {
    const stream = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
    const write = stream.write;
    stream.write = (...args: unknown[]) => {
      count++;
      return write.apply(stream, args);
    };
    return () => {
      stream.write = write;
    };
  });
  return {
    total: () => count,
    restore: () => {
      for (const restore of undo) restore();
    },
  };
}

interface RenewState<H> {
  readonly env: RedisEnv;
  readonly clients: Redis[];
  readonly held: H;
  readonly writes: ReturnType<typeof countWrites>;
  ops: number;
  readonly log: (message: string) => void;
  readonly name: string;
}

async function inBatches<T>(count: number, make: (index: number) => Promise<T>, batch = 500): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += batch) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(batch, count - start) }, (_, i) => make(start + i)),
      )),
    );
  }
  return out;
}

/** A renewal contender: `hold` takes HELD keys (untimed), `renew` renews all of them once (one op). */
function renewContender<H>(spec: {
  name: string;
  role: 'leasekit' | 'floor' | 'peer';
  note: string;
  hold(clients: Redis[], env: RedisEnv): Promise<H>;
  renew(held: H, clients: Redis[]): Promise<boolean>;
  release(held: H, clients: Redis[]): Promise<void>;
}): Contender<RedisEnv, RenewState<H>> {
  return {
    name: spec.name,
    role: spec.role,
    note: spec.note,
    async setup(env, context) {
      const clients = await connect(env);
      const held = await spec.hold(clients, env);
      return { env, clients, held, writes: countWrites(clients), ops: 0, log: context.log, name: spec.name };
    },
    async run(state, _op: OpContext) {
      state.ops++;
      return spec.renew(state.held, state.clients);
    },
    async teardown(state) {
      state.writes.restore();
      if (state.ops > 0) {
        state.log(
          `${state.name}: ${(state.writes.total() / state.ops / state.clients.length).toFixed(0)} socket writes per node per renewal of ${HELD} leases`,
        );
      }
      await spec.release(state.held, state.clients);
      await disconnect(state.clients);
    },
    serverPids: (state) => pids(state.env),
  };
}

const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

interface LeasekitHeld {
  readonly backend: RedisBackend;
  readonly leases: LeaseRef[];
}

const renewContenders = [
  renewContender<LeasekitHeld>({
    name: 'leasekit (redis)',
    role: 'leasekit',
    note: `createRedisBackend({ clients }).renewMany() of all ${HELD} leases: what the locker's renewal orchestrator sends each tick for leases falling due together (one pipeline per node)`,
    async hold(clients) {
      const backend = createRedisBackend({ clients, prefix: 'bench-lk-renew:' });
      const leases = await inBatches(HELD, async (i) => {
        const lease = { key: `bench:renew:${i}`, token: randomUUID() };
        await backend.tryAcquire({ ...lease, ttlMs: TTL_MS * 6 });
        return lease;
      });
      return { backend, leases };
    },
    async renew(held) {
      const outcomes = await held.backend.renewMany(
        held.leases.map((lease) => ({ lease, ttlMs: TTL_MS * 6 })),
      );
      return outcomes.every((outcome) => outcome.status === 'renewed');
    },
    async release(held) {
      await inBatches(HELD, (i) => held.backend.release(held.leases[i]!));
      await held.backend.close();
    },
  }),
  renewContender<{ sha: string; tokens: string[] }>({
    name: 'floor (pipelined Lua pexpire)',
    role: 'floor',
    note: `raw ioredis: one pipeline per node of ${HELD} EVALSHA compare-and-pexpire, a lease counts as renewed on 2 of 3 nodes`,
    async hold(clients) {
      const sha = String(await clients[0]!.script('LOAD', RENEW_SCRIPT));
      await Promise.all(clients.slice(1).map((client) => client.script('LOAD', RENEW_SCRIPT)));
      const tokens = Array.from({ length: HELD }, () => randomUUID());
      await Promise.all(
        clients.map((client) => {
          const pipeline = client.pipeline();
          tokens.forEach((token, i) => {
            pipeline.set(`bench-floor-renew:${i}`, token, 'PX', TTL_MS * 6, 'NX');
          });
          return pipeline.exec();
        }),
      );
      return { sha, tokens };
    },
    async renew(held, clients) {
      const results = await Promise.all(
        clients.map((client) => {
          const pipeline = client.pipeline();
          held.tokens.forEach((token, i) => {
            pipeline.evalsha(held.sha, 1, `bench-floor-renew:${i}`, token, TTL_MS * 6);
          });
          return pipeline.exec();
        }),
      );
      return held.tokens.every((_, i) => results.filter((result) => result?.[i]?.[1] === 1).length >= 2);
    },
    async release(_held, clients) {
      await Promise.all(
        clients.map((client) => {
          const pipeline = client.pipeline();
          for (let i = 0; i < HELD; i++) pipeline.del(`bench-floor-renew:${i}`);
          return pipeline.exec();
        }),
      );
    },
  }),
  renewContender<{ redlock: SesameRedlock; locks: SesameLock[] }>({
    name: '@sesamecare-oss/redlock',
    role: 'peer',
    note: `lock.extend(${TTL_MS * 6}) on each of the ${HELD} locks, all at once`,
    async hold(clients) {
      const redlock = new SesameRedlock(clients, { retryCount: 0 });
      redlock.on('error', () => {});
      const locks = await inBatches(HELD, (i) => redlock.acquire([`bench-srl-renew:${i}`], TTL_MS * 6));
      return { redlock, locks };
    },
    async renew(held) {
      const extended = await Promise.all(held.locks.map((lock) => lock.extend(TTL_MS * 6)));
      held.locks.splice(0, held.locks.length, ...extended);
      return true;
    },
    async release(held) {
      await inBatches(HELD, (i) => held.locks[i]!.release());
    },
  }),
  renewContender<{ locks: UniversalLock[]; handles: LockHandle[] }>({
    name: 'redlock-universal',
    role: 'peer',
    note: `lock.extend(handle, ${TTL_MS * 6}) on each of the ${HELD} locks, all at once`,
    async hold(clients) {
      const adapters = clients.map((client) => new IoredisAdapter(client));
      const locks = Array.from({ length: HELD }, (_, i) =>
        createRedlock({ adapters, key: `bench-ru-renew:${i}`, ttl: TTL_MS * 6, retryAttempts: 0 }),
      );
      const handles = await inBatches(HELD, (i) => locks[i]!.acquire());
      return { locks, handles };
    },
    async renew(held) {
      const results = await Promise.all(
        held.locks.map((lock, i) => lock.extend(held.handles[i]!, TTL_MS * 6)),
      );
      return results.every(Boolean);
    },
    async release(held) {
      await inBatches(HELD, (i) => held.locks[i]!.release(held.handles[i]!));
    },
  }),
  renewContender<RedlockMutex[]>({
    name: 'redis-semaphore RedlockMutex',
    role: 'peer',
    note: `each mutex's own refresh (the protected _refresh() its refresh timer calls), on all ${HELD} at once`,
    async hold(clients) {
      return inBatches(HELD, async (i) => {
        const mutex = new RedlockMutex(clients, `bench-rs-renew:${i}`, {
          ...semaphoreOptions,
          lockTimeout: TTL_MS * 6,
        });
        await mutex.acquire();
        return mutex;
      });
    },
    async renew(mutexes) {
      const results = await Promise.all(
        mutexes.map((mutex) => (mutex as unknown as { _refresh(): Promise<boolean> })._refresh()),
      );
      return results.every(Boolean);
    },
    async release(mutexes) {
      await inBatches(HELD, (i) => mutexes[i]!.release());
    },
  }),
];

// ---- scenarios ----

const redisSetup = () => startRedis();

export const redisScenarios: readonly Scenario<RedisEnv>[] = [
  defineScenario<RedisEnv>({
    id: 'redis/acquire-release',
    title: 'acquire+release, sequential (Redis, 3 nodes)',
    description:
      'One caller takes and releases one uncontended key over three redis-server processes, over and over: the latency of one Redlock acquire plus one release.',
    load: { mode: 'latency', durationMs: 1000 },
    keys: uniformKeys('bench:seq', 1000),
    setup: redisSetup,
    teardown: stopRedis,
    contenders: [...lockContenders],
  }),
  defineScenario<RedisEnv>({
    id: 'redis/many-keys',
    title: '50 workers on 1,000 keys (Redis, 3 nodes)',
    description:
      'Fifty concurrent workers each take and release a key drawn at random from 1,000 (little contention): throughput of many independent locks over three nodes.',
    load: { mode: 'throughput', workers: 50, durationMs: 1000 },
    keys: uniformKeys('bench:k', 1000),
    setup: redisSetup,
    teardown: stopRedis,
    contenders: [...lockContenders],
  }),
  defineScenario<RedisEnv>({
    id: 'redis/hot-key',
    title: 'hot keys: 50 workers on 5 keys, 1 ms hold (Redis, 3 nodes)',
    description:
      'Fifty workers take a key drawn from five, hold it 1 ms, release it: hand-overs per second, and how long a worker waits for the lock (p50/p99 are the wait). Peers poll every 10 ms; leasekit’s waiters queue in its locker and take the key from one another at each release with no round trip (local hand-overs: one Redis request per 16 holders while nobody else waits for the key).',
    load: { mode: 'throughput', workers: 50, durationMs: 2000 },
    keys: uniformKeys('bench:hot', 5),
    holdMs: 1,
    latency: 'wait',
    setup: redisSetup,
    teardown: stopRedis,
    contenders: [...lockContenders, inProcessCeiling],
  }),
  defineScenario<RedisEnv>({
    id: 'redis/stopped-node',
    title: 'acquire+release, sequential, one of 3 nodes stopped (Redis)',
    description:
      'As the sequential scenario, with one node SIGSTOPped after the clients connected: it accepts commands and never answers (a stalled or partitioned node). Compare with the first table: what does one dead node add?',
    load: { mode: 'latency', durationMs: 1000 },
    keys: uniformKeys('bench:stopped', 1000),
    setup: () => startRedis(2),
    teardown: stopRedis,
    contenders: [...lockContenders],
  }),
  defineScenario<RedisEnv>({
    id: 'redis/slow-node',
    title: `acquire+release, sequential, one of 3 nodes ${SLOW_NODE_DELAY_MS} ms slow (Redis)`,
    description: `As the sequential scenario, with one node's answers delivered ${SLOW_NODE_DELAY_MS} ms late by a proxy (a congested link, a far zone, a server pausing): it answers, just slowly. Compare with the first table: what does one slow node add?`,
    load: { mode: 'latency', durationMs: 1000 },
    keys: uniformKeys('bench:slow', 1000),
    setup: () => startRedisSlowed(SLOW_NODE_DELAY_MS),
    teardown: stopRedis,
    contenders: [...lockContenders],
  }),
  defineScenario<RedisEnv>({
    id: 'redis/renew-10k',
    title: `renewing ${HELD.toLocaleString('en')} held leases (Redis, 3 nodes)`,
    description: `Each operation renews every one of ${HELD.toLocaleString('en')} held leases once (one renewal tick): ops/s are ticks per second, CPU µs/op the client CPU for a whole tick. Socket writes per node per tick are printed in the run log.`,
    load: { mode: 'latency', durationMs: 1500 },
    setup: redisSetup,
    teardown: stopRedis,
    contenders: renewContenders,
  }),
];
