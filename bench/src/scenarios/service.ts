/**
 * The HTTP lock service (apps/lock-service): acquire+release through it with 50 keep-alive
 * clients against a floor (the same two routes as plain node:http handlers over the same kind of
 * locker, no framework, validation, auth or metrics: `../service/floor-server.ts`) and against
 * calling the backend in-process; and hot keys, where the service's server-side wait is set
 * against the seed's way of waiting (its Go SDK polls with exponential backoff). Both servers
 * run as their own processes, pinned to the server core with the stores they use.
 */
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createLockClient, type LockClient } from '@leasekit/client';
import { type AnyBackend, createLocker, type Locker } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import { createRedisBackend } from '@leasekit/redis';
import { type RedisServer, type ServerProcess, startRedisServers, startServer } from '@leasekit/testing';
import { Pool } from 'undici';
import { pinServer } from '../pin.js';
import { defineScenario, lockContender, type Release, uniformKeys } from '../registry.js';
import { type Contender, type Scenario, SkipScenario } from '../types.js';

type StoreKind = 'memory' | 'redis';
const API_KEY = 'bench-key-0123456789abcdef';
const TTL_MS = 10_000;
const CLIENTS = 50;

interface ServiceEnv {
  readonly store: StoreKind;
  readonly redis: readonly RedisServer[];
  readonly service: ServerProcess;
  readonly floor: ServerProcess;
  /** The floor's handlers as bare Fastify routes: the framework's own cost. */
  readonly fastify: ServerProcess;
}

const here = dirname(fileURLToPath(import.meta.url));
const serviceMain = join(here, '../../../apps/lock-service/dist/main.js');
const floorMain = join(here, '../service/floor-server.js');

async function healthy(port: number, path: string): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return response.status < 500;
  } catch {
    return false;
  }
}

async function startServices(store: StoreKind): Promise<ServiceEnv> {
  let redis: RedisServer[] = [];
  if (store === 'redis') {
    try {
      redis = await startRedisServers(3);
    } catch (error) {
      throw new SkipScenario(error instanceof Error ? error.message : String(error));
    }
  }
  const backendEnv = {
    LEASEKIT_BACKEND: store,
    ...(store === 'redis' ? { LEASEKIT_REDIS_URLS: redis.map((server) => server.url).join(',') } : {}),
  };
  const service = await startServer({
    name: 'lock-service',
    // `env PORT=<port> node main.js`: the server reads its port from the environment (env execs node: same pid).
    command: 'env',
    args: ({ port }) => [`PORT=${port}`, process.execPath, serviceMain],
    // Auth, validation and metrics on; request logs at `warn` (a log line per request measures pino and stdout).
    env: {
      ...process.env,
      ...backendEnv,
      LEASEKIT_API_KEYS: `bench:${API_KEY}`,
      LEASEKIT_TOKEN_SECRET: randomUUID(),
      LEASEKIT_LOG_LEVEL: 'warn',
    },
    ready: ({ port }) => healthy(port, '/readyz'),
  });
  const floor = await startServer({
    name: 'floor-server',
    command: 'env',
    args: ({ port }) => [`PORT=${port}`, process.execPath, floorMain],
    env: { ...process.env, ...backendEnv },
    ready: ({ port }) => healthy(port, '/'),
  });
  const fastify = await startServer({
    name: 'fastify-floor',
    command: 'env',
    args: ({ port }) => [`PORT=${port}`, process.execPath, floorMain],
    env: { ...process.env, ...backendEnv, FLOOR_FRAMEWORK: 'fastify' },
    ready: ({ port }) => healthy(port, '/'),
  });
  await Promise.all([service, floor, fastify, ...redis].map((server) => pinServer(server.pid)));
  return { store, redis, service, floor, fastify };
}

async function stopServices(env: ServiceEnv): Promise<void> {
  await Promise.all([env.service.stop(), env.floor.stop(), env.fastify.stop()]);
  await Promise.all(env.redis.map((server) => server.stop()));
}

const pids = (env: ServiceEnv, server: ServerProcess) => [server.pid, ...env.redis.map((s) => s.pid)];

interface HttpState {
  readonly pool: Pool;
  readonly env: ServiceEnv;
}

/** The same raw HTTP client for the service and the floor: POST to take, DELETE with the token to give back. */
function httpContender(
  name: string,
  role: 'leasekit' | 'floor' | 'peer',
  target: 'service' | 'floor' | 'fastify',
  note: string,
) {
  return lockContender<ServiceEnv, HttpState>({
    name,
    role,
    note,
    setup: (env) => ({
      env,
      pool: new Pool(`http://127.0.0.1:${env[target].port}`, { connections: CLIENTS, pipelining: 1 }),
    }),
    async acquire(state, key): Promise<Release> {
      const path = `/v1/locks/${key}`;
      const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
      const response = await state.pool.request({
        method: 'POST',
        path,
        headers,
        body: JSON.stringify({ ttl: TTL_MS, wait: TTL_MS }),
      });
      const body = (await response.body.json()) as { token?: string };
      if (response.statusCode !== 201 || !body.token) {
        throw new Error(`acquire answered ${response.statusCode}: ${JSON.stringify(body)}`);
      }
      const token = body.token;
      return async () => {
        const released = await state.pool.request({
          method: 'DELETE',
          path,
          headers: { authorization: `Bearer ${API_KEY}`, 'lease-token': token },
        });
        await released.body.dump();
        return released.statusCode === 204;
      };
    },
    teardown: (state) => state.pool.close(),
    serverPids: (state) => pids(state.env, state.env[target]),
  });
}

function sdkContender(
  name: string,
  note: string,
  backoff?: { initial: number; max: number; maxJitter: number },
) {
  const polling = backoff !== undefined;
  return lockContender<ServiceEnv, { client: LockClient; env: ServiceEnv }>({
    name,
    role: polling ? 'peer' : 'leasekit',
    note,
    setup: (env) => ({
      env,
      client: createLockClient({
        baseUrl: `http://127.0.0.1:${env.service.port}`,
        apiKey: API_KEY,
        connections: CLIENTS,
        timeout: '30s',
        ...(backoff ? { backoff } : {}),
      }),
    }),
    async acquire(state, key): Promise<Release> {
      if (!polling) {
        const { release } = await state.client.acquire(key, { ttl: TTL_MS, wait: TTL_MS });
        return release;
      }
      return seedStyleAcquire(state.env.service.port, key, backoff);
    },
    teardown: (state) => state.client.close(),
    serverPids: (state) => pids(state.env, state.env.service),
  });
}

const seedPools = new Map<number, Pool>();

/**
 * The seed's way: `POST /lock?resource=&ttl=` with no wait; on 409 sleep a step that doubles up
 * to `max`, plus a random jitter below `maxJitter`, and try again (its Go SDK's `Acquire`).
 */
async function seedStyleAcquire(
  port: number,
  key: string,
  backoff: { initial: number; max: number; maxJitter: number },
): Promise<Release> {
  let pool = seedPools.get(port);
  if (!pool) {
    pool = new Pool(`http://127.0.0.1:${port}`, { connections: CLIENTS });
    seedPools.set(port, pool);
  }
  const headers = { authorization: `Bearer ${API_KEY}` };
  let step = backoff.initial;
  for (;;) {
    const response = await pool.request({ method: 'POST', path: `/lock?resource=${key}&ttl=10s`, headers });
    const body = (await response.body.json()) as { token?: string };
    if (response.statusCode === 200 && body.token) {
      const token = body.token;
      const used = pool;
      return async () => {
        const released = await used.request({
          method: 'POST',
          path: `/unlock?resource=${key}&token=${encodeURIComponent(token)}`,
          headers,
        });
        await released.body.dump();
        return released.statusCode === 200;
      };
    }
    if (response.statusCode !== 409) throw new Error(`/lock answered ${response.statusCode}`);
    await sleep(step + Math.random() * backoff.maxJitter);
    step = Math.min(step * 2, backoff.max);
  }
}

function inProcess(store: StoreKind): Contender<ServiceEnv> {
  return lockContender<ServiceEnv, Locker>({
    name: `in-process locker (${store})`,
    role: 'ceiling',
    note: `createLocker over the same ${store} backend in this process, with the service's locker options (timeout mode, sharedHoldings): no HTTP at all`,
    setup(env) {
      const backend: AnyBackend =
        env.store === 'redis'
          ? createRedisBackend({
              nodes: env.redis.map((server) => server.url),
              prefix: `bench:${randomUUID()}:`,
            })
          : createMemoryBackend();
      return createLocker(backend, { mode: 'timeout', sharedHoldings: true, ttl: TTL_MS, wait: TTL_MS });
    },
    async acquire(locker, key) {
      const lease = await locker.acquire(key);
      return () => lease.release();
    },
    teardown: (locker) => locker.close(),
  }) as Contender<ServiceEnv>;
}

function throughput(store: StoreKind): Scenario<ServiceEnv> {
  return defineScenario<ServiceEnv>({
    id: `service/acquire-release-${store}`,
    title: `lock service: acquire+release, ${CLIENTS} keep-alive clients on 1,000 keys (${store})`,
    description: `Each of ${CLIENTS} workers takes a random key of 1,000 through HTTP and releases it. The service runs with API-key auth, schema validation and Prometheus metrics on; the floor is the same two routes as bare node:http handlers over the same locker, and bare Fastify the same handlers as Fastify routes (the framework's own share of the gap). Server CPU is the service process's (and the Redis nodes').`,
    load: { mode: 'throughput', workers: CLIENTS, durationMs: 3_000 },
    keys: uniformKeys('bench:svc:', 1_000),
    setup: () => startServices(store),
    teardown: stopServices,
    contenders: [
      httpContender(
        `leasekit lock-service (${store})`,
        'leasekit',
        'service',
        `apps/lock-service (Fastify 5), POST /v1/locks/{key} then DELETE with Lease-Token, through an undici Pool of ${CLIENTS} connections`,
      ),
      httpContender(
        `floor: node:http (${store})`,
        'floor',
        'floor',
        'the same two routes as plain node:http handlers over the same locker; no schema, auth, tenants, metrics or logs',
      ),
      httpContender(
        `bare Fastify (${store})`,
        'peer',
        'fastify',
        "the floor's handlers as Fastify 5 routes with no schema, hooks, plugins or logger: what the framework alone costs",
      ),
      sdkContender(
        `@leasekit/client (${store})`,
        `createLockClient().acquire(key, { ttl, wait }) then release(): the SDK's own cost on top of the raw requests`,
      ),
      inProcess(store),
    ],
  });
}

function hotKeys(store: StoreKind): Scenario<ServiceEnv> {
  return defineScenario<ServiceEnv>({
    id: `service/hot-keys-${store}`,
    title: `lock service: hot keys, ${CLIENTS} clients on 5 keys, 1 ms hold (${store})`,
    description:
      "Hand-overs per second and the wait for the lock. leasekit's client waits on the server (the request is answered when the key is released); the seed's way polls with exponential backoff, with its Go SDK's defaults (100 ms, 5 s, 500 ms jitter) and with a tighter 10 ms step.",
    load: { mode: 'throughput', workers: CLIENTS, durationMs: 4_000 },
    keys: uniformKeys('bench:svc-hot:', 5),
    holdMs: 1,
    latency: 'wait',
    setup: () => startServices(store),
    teardown: stopServices,
    contenders: [
      sdkContender(
        `leasekit server-side wait (${store})`,
        'createLockClient().acquire(key, { wait }): one request waits on the service until the key is released to it',
      ),
      sdkContender(
        `seed polling 100ms/5s (${store})`,
        "POST /lock with no wait, on 409 sleep and retry with the seed Go SDK's backoff (initial 100 ms, max 5 s, jitter < 500 ms)",
        { initial: 100, max: 5_000, maxJitter: 500 },
      ),
      sdkContender(
        `polling 10ms/200ms (${store})`,
        'the same polling with a tighter step (initial 10 ms, max 200 ms, jitter < 10 ms)',
        { initial: 10, max: 200, maxJitter: 10 },
      ),
    ],
  });
}

export const serviceScenarios: readonly Scenario[] = [
  throughput('memory'),
  hotKeys('memory'),
  throughput('redis'),
  hotKeys('redis'),
] as readonly Scenario[];
