import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { findBinary, type RedisServer, startRedisServer, startRedisServers } from '@leasekit/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createRedisBackend,
  type RedisBackend,
  type RedisBackendOptions,
  redisKeyNames,
} from '../src/index.js';
import {
  adminClients,
  closeAll,
  connectedLockClients,
  eventually,
  hasRedisServer,
  uniqueKey,
} from './helpers.js';

const TTL = 5_000;

/**
 * A redis-server that replaces a killed one on the same port, empty (no persistence): what a
 * node restarted without its data looks like to clients (a new `run_id`, no keys).
 */
async function startEmptyOn(port: number): Promise<ChildProcess> {
  const binary = findBinary(process.env.LEASEKIT_REDIS_SERVER ?? 'redis-server')!;
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const probe = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  probe.on('error', () => {});
  for (;;) {
    try {
      await probe.connect().catch(() => {});
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  probe.disconnect();
  return child;
}

const ready = (client: Redis) =>
  client.status === 'ready' ? Promise.resolve() : once(client, 'ready').then(() => undefined);

describe.skipIf(!hasRedisServer)('a node restarted empty', () => {
  let servers: RedisServer[] = [];
  let admin: Redis[] = [];
  const replacements: ChildProcess[] = [];
  const backends: RedisBackend[] = [];
  const backend = (options: RedisBackendOptions) => {
    const created = createRedisBackend({ nodeTimeout: 200, onWarning: () => {}, ...options });
    backends.push(created);
    return created;
  };

  beforeAll(async () => {
    servers = await startRedisServers(3);
    admin = adminClients(servers.map((server) => server.url));
  });
  afterEach(async () => {
    for (const server of servers) if (server.running) server.resume();
    await Promise.all(backends.splice(0).map((created) => created.close()));
  });
  afterAll(async () => {
    await closeAll(admin);
    for (const child of replacements) child.kill('SIGKILL');
    await Promise.all(servers.map((server) => server.stop()));
  });

  /** Kills node `index` and starts an empty server on its port. */
  async function restartEmpty(index: number): Promise<void> {
    const server = servers[index]!;
    await server.kill();
    // Same port, so `server.url` still names the node.
    replacements.push(await startEmptyOn(server.port));
  }

  it('gets its fence counters back from the others before it counts: fences keep increasing across quorums', async () => {
    const clients = await connectedLockClients(servers.map((server) => server.url));
    const b = backend({ clients });
    const key = uniqueKey('restart');
    const { fence } = redisKeyNames(key);
    // Node C missed acquisitions that A and B counted (it was down, say): A = B = 10, C = 3.
    await admin[0]!.set(fence, 10);
    await admin[1]!.set(fence, 10);
    await admin[2]!.set(fence, 3);
    const first = await b.tryAcquire({ key, token: 'holder-1', ttlMs: TTL });
    expect(first).toMatchObject({ status: 'acquired', fence: 11 });
    expect(await b.release({ key, token: 'holder-1' })).toBe(true);

    // B restarts without its data; its client reconnects.
    await restartEmpty(1);
    await ready(clients[1]!);
    const bAdmin = new Redis(servers[1]!.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    // Its counter is brought up from the others (A has 11).
    const restored = await eventually(
      () => bAdmin.get(fence),
      (value) => Number(value) >= 11,
      3_000,
    );
    bAdmin.disconnect();
    expect(Number(restored)).toBeGreaterThanOrEqual(11);

    // The next holder reaches only {B, C} (A is stopped): its fence must still be above 11.
    servers[0]!.pause();
    const second = await b.tryAcquire({ key, token: 'holder-2', ttlMs: TTL });
    servers[0]!.resume();
    expect(second.status).toBe('acquired');
    expect((second as { fence: number }).fence).toBeGreaterThan(11);
    await b.release({ key, token: 'holder-2' });
    await closeAll(clients);
  });

  it('a process that connects after the restart (it never saw the old run_id) brings the node up too', async () => {
    const key = uniqueKey('late-process');
    const { fence } = redisKeyNames(key);
    const early = backend({ nodes: servers.map((server) => server.url) });
    // Fences on all three nodes.
    for (let i = 1; i <= 3; i++) {
      const token = `holder-${i}`;
      expect((await early.tryAcquire({ key, token, ttlMs: TTL })).status).toBe('acquired');
      await early.release({ key, token });
    }
    // B missed some of them (A = C = 10, B = 3): only C and A know the highest.
    await admin[0]!.set(fence, 10);
    await admin[1]!.set(fence, 3);
    await admin[2]!.set(fence, 10);
    const counted = 10;
    await early.close();
    // C restarts empty; a new process starts after that.
    await restartEmpty(2);
    const late = backend({ nodes: servers.map((server) => server.url) });
    const probe = await late.tryAcquire({ key: uniqueKey('warm-up'), token: 'w', ttlMs: TTL });
    expect(probe.status).toBe('acquired');
    // C's counters are brought up from A and B (A has 10) before it counts.
    const restored = await eventually(
      () => admin[2]!.get(fence),
      (value) => Number(value) >= 10,
      3_000,
    );
    expect(Number(restored)).toBeGreaterThanOrEqual(10);
    // Holder on {B, C} with A stopped: above every earlier fence.
    servers[0]!.pause();
    const next = await late.tryAcquire({ key, token: 'holder-4', ttlMs: TTL });
    servers[0]!.resume();
    expect(next.status).toBe('acquired');
    expect((next as { fence: number }).fence).toBeGreaterThan(counted);
  });
});

describe.skipIf(!hasRedisServer)('node configuration checked at connect', () => {
  let evicting: RedisServer | undefined;
  const backends: RedisBackend[] = [];
  afterAll(async () => {
    await Promise.all(backends.map((created) => created.close()));
    await evicting?.stop();
  });

  it('a node that may evict keys (maxmemory with an evicting policy) is refused; with evictingNodes: "warn", used with a warning', async () => {
    evicting = await startRedisServer({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] });
    const warnings: string[] = [];
    const refused = createRedisBackend({
      nodes: [evicting.url],
      onWarning: (message) => warnings.push(message),
    });
    backends.push(refused);
    const error = await refused
      .tryAcquire({ key: uniqueKey('evicting'), token: 'a', ttlMs: TTL })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' }); // one node: its own error
    expect((error as Error).message).toMatch(/maxmemory-policy allkeys-lru/);
    expect((error as Error).message).toMatch(/evictingNodes/);

    const allowed = createRedisBackend({
      nodes: [evicting.url],
      evictingNodes: 'warn',
      onWarning: (message) => warnings.push(message),
    });
    backends.push(allowed);
    expect((await allowed.tryAcquire({ key: uniqueKey('evicting'), token: 'b', ttlMs: TTL })).status).toBe(
      'acquired',
    );
    expect(warnings.some((message) => /maxmemory-policy allkeys-lru/.test(message))).toBe(true);
  });

  it('a node without AOF persistence is used, with a warning that says what a restart loses', async () => {
    const warnings: string[] = [];
    const plain = await startRedisServer();
    const b = createRedisBackend({ nodes: [plain.url], onWarning: (message) => warnings.push(message) });
    backends.push(b);
    expect((await b.tryAcquire({ key: uniqueKey('no-aof'), token: 'a', ttlMs: TTL })).status).toBe(
      'acquired',
    );
    await b.close();
    await plain.stop();
    expect(warnings.some((message) => /appendonly/.test(message))).toBe(true);
  });
});
