import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { createLocker, isLeaseError, LeaseError, type QuorumNotReachedError } from '@leasekit/core';
import { getFreePort, type RedisServer, startRedisServers, stopAll } from '@leasekit/testing';
import { redisUrls } from '@leasekit/testing/vitest';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  classifyError,
  createLockClient,
  createRedisBackend,
  lockClientOptions,
  type RedisBackend,
  redisKeyNames,
} from '../src/index.js';
import {
  adminClients,
  closeAll,
  connectedLockClients,
  eventually,
  holders,
  interceptCommands,
  uniqueKey,
} from './helpers.js';

const urls = redisUrls().slice(0, 3);
const admin = adminClients(urls);
const opened: RedisBackend[] = [];
const backend = (options: Parameters<typeof createRedisBackend>[0] = { nodes: urls }) => {
  const created = createRedisBackend(options);
  opened.push(created);
  return created;
};
afterAll(async () => {
  await Promise.all(opened.map((created) => created.close()));
  await closeAll(admin);
});

/** A redis:// URL where nothing listens. */
const deadUrl = async () => `redis://127.0.0.1:${await getFreePort()}`;

// Nodes new to leasekit have their fence counters compared with the others' in the background
// (raising them, see "Checks at connect" in the README); tests here count exact counter values,
// so they start once that is done on the shared servers.
beforeAll(async () => {
  const first = backend();
  await first.tryAcquire({ key: uniqueKey('marker'), token: 'm', ttlMs: 1_000 });
  await eventually(
    () => Promise.all(admin.map((client) => client.get('leasekit:node-sync'))),
    (markers) => markers.every((marker) => marker !== null),
    5_000,
  );
});

const all =
  (value: string | null) =>
  (tokens: (string | null)[]): boolean =>
    tokens.every((token) => token === value);
/**
 * Every command a server runs whose arguments contain `match` (scripts' inner calls too), by
 * name (`seen`) and as `redis-cli monitor` prints its arguments (`lines`), until `stop()`.
 */
async function watch(
  match: string,
  on: readonly string[] = urls,
): Promise<{ seen: string[][]; lines: string[][]; stop: () => Promise<void> }> {
  // `redis-cli monitor`, not ioredis' monitor(): ioredis 6 (RESP3) can fail its own command
  // queue with "Command queue state error" when another client's command is monitored right
  // as MONITOR is answered, an uncaught error in the test process.
  const seen: string[][] = on.map(() => []);
  const lines: string[][] = on.map(() => []);
  const monitors = await Promise.all(
    on.map(
      (url, index) =>
        new Promise<ChildProcess>((resolve, reject) => {
          const { hostname, port } = new URL(url);
          const monitor = spawn('redis-cli', ['-h', hostname, '-p', port, 'monitor'], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          monitor.once('error', reject);
          createInterface({ input: monitor.stdout! }).on('line', (line) => {
            if (line === 'OK') return resolve(monitor); // monitoring from here on
            // 1796578274.785688 [0 127.0.0.1:45764] "evalsha" "<sha>" "1" "<key>" ...
            const args = line.slice(line.indexOf('] ') + 2);
            if (args.includes(match)) {
              seen[index]!.push((/^"([^"]*)"/.exec(args)?.[1] ?? '').toLowerCase());
              lines[index]!.push(args);
            }
          });
        }),
    ),
  );
  const stop = () =>
    Promise.all(
      monitors.map(
        (monitor) =>
          new Promise<void>((resolve) => {
            monitor.once('exit', () => resolve());
            monitor.kill();
          }),
      ),
    ).then(() => {});
  return { seen, lines, stop };
}

describe('configuration (rejected before any I/O)', () => {
  it.each([
    [{}, /exactly one of `clients`/],
    [{ clients: [], nodes: [] }, /exactly one of `clients`/],
    [{ nodes: [] }, /`nodes` must be a non-empty array/],
    [{ nodes: ['localhost:6379'] }, /nodes\[0\] must be a redis:\/\/ URL/],
    [{ clients: [{}] }, /clients\[0\] is not an ioredis Redis or Cluster instance/],
    [{ nodes: ['redis://127.0.0.1:1'], prefix: 'app:{x}:' }, /prefix must be a string without '\{' or '\}'/],
    [{ nodes: ['redis://127.0.0.1:1'], nodeTimeout: '-5ms' }, /nodeTimeout must be/],
    [{ nodes: ['redis://127.0.0.1:1'], fencing: 'yes' }, /fencing must be a boolean/],
  ])('%j', (options, message) => {
    let error: unknown;
    try {
      createRedisBackend(options as never);
    } catch (e) {
      error = e;
    }
    expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/^\[leasekit\] \[redis\] configure: /);
    expect((error as Error).message).toMatch(message);
  });

  it('creates lock clients that fail fast instead of queueing', () => {
    expect(lockClientOptions).toMatchObject({
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    });
    expect(lockClientOptions.socketTimeout).toBeGreaterThan(0);
    const client = createLockClient(urls[0]!, { lazyConnect: true });
    expect(client.options).toMatchObject({
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      lazyConnect: true,
    });
    client.disconnect();
  });

  it('namespaces keys under the prefix, with a Cluster hash tag', () => {
    expect(redisKeyNames('orders:42')).toEqual({
      lock: 'leasekit:{orders:42}',
      fence: 'leasekit:{orders:42}:fence',
      owner: 'leasekit:{orders:42}:owner',
      waiters: 'leasekit:{orders:42}:waiters',
    });
    expect(redisKeyNames('k', 'app:locks:').lock).toBe('app:locks:{k}');
  });
});

describe('Redlock over 3 nodes', () => {
  it('stores the token under the prefix on every node, and independent prefixes never collide', async () => {
    const key = uniqueKey('prefix');
    const a = createLocker(backend({ nodes: urls, prefix: 'app-a:' }));
    const b = createLocker(backend({ nodes: urls, prefix: 'app-b:' }));
    const lease = await a.acquire(key);
    const other = await b.acquire(key);
    // (The third node's SET may come after the quorum's answers.)
    expect(await eventually(() => holders(admin, key, 'app-a:'), all(lease.token))).toEqual([
      lease.token,
      lease.token,
      lease.token,
    ]);
    expect(await eventually(() => holders(admin, key, 'app-b:'), all(other.token))).toEqual([
      other.token,
      other.token,
      other.token,
    ]);
    expect(await holders(admin, key)).toEqual([null, null, null]);
    await Promise.all([lease.release(), other.release()]);
    expect(await eventually(() => holders(admin, key, 'app-a:'), all(null))).toEqual([null, null, null]);
  });

  it('a node that is down does not stop a quorum, and fails at once instead of waiting', async () => {
    const created = backend({ nodes: [urls[0]!, urls[1]!, await deadUrl()], nodeTimeout: 1_000 });
    const locker = createLocker(created, { ttl: '5s' });
    await locker.acquire(uniqueKey('warm-up')).then((lease) => lease.release());
    const started = performance.now();
    const lease = await locker.acquire(uniqueKey('one-down'));
    expect(performance.now() - started).toBeLessThan(100);
    await lease.release();
  });

  it('QUORUM_NOT_REACHED says what each node answered', async () => {
    const key = uniqueKey('mixed');
    const { lock } = redisKeyNames(key);
    await admin[0]!.set(lock, 'someone-else', 'PX', 5_000);
    const dead = await deadUrl();
    const created = backend({ nodes: [urls[0]!, urls[1]!, dead] });
    const error = (await created
      .tryAcquire({ key, token: randomUUID(), ttlMs: 5_000 })
      .catch((e: unknown) => e)) as QuorumNotReachedError;
    expect(isLeaseError(error, 'QUORUM_NOT_REACHED')).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.quorum).toBe(2);
    expect(error.nodes.map((node) => [node.node, node.outcome])).toEqual([
      [urls[0]!.slice('redis://'.length), 'held'],
      [urls[1]!.slice('redis://'.length), 'ok'],
      [dead.slice('redis://'.length), 'error'],
    ]);
    expect(error.message).toMatch(
      new RegExp(
        `^\\[leasekit\\] \\[redis\\] acquire ".*": acquire: quorum of 2 not reached: 1 held elsewhere, 1 ok, 1 error of 3 nodes \\(${dead.slice(8)}: `,
      ),
    );
    // The node that said yes was unlocked again (the unlock goes out without waiting).
    const unlocked = (tokens: (string | null)[]) => tokens[1] === null;
    expect(await eventually(() => holders(admin, key), unlocked)).toEqual(['someone-else', null, null]);
  });

  it('a key held on a quorum is "held", with the time until it can free', async () => {
    const key = uniqueKey('held');
    const holder = backend();
    expect((await holder.tryAcquire({ key, token: 'first', ttlMs: 3_000 })).status).toBe('acquired');
    const outcome = await backend().tryAcquire({ key, token: 'second', ttlMs: 3_000 });
    expect(outcome.status).toBe('held');
    expect(outcome.status === 'held' && outcome.retryAfterMs).toBeGreaterThan(2_500);
    // A quorum holds it for the first; the third node may have answered either way, and the
    // second's unlock of any node it got goes out without waiting.
    const seen = await eventually(
      () => holders(admin, key),
      (tokens) => !tokens.includes('second'),
    );
    expect(seen.filter((holder) => holder === 'first').length).toBeGreaterThanOrEqual(2);
    expect(seen).not.toContain('second');
  });

  it('an acquire retried with the same token counts the nodes an earlier attempt took, and resets their TTL', async () => {
    const key = uniqueKey('same-token');
    const token = randomUUID();
    const { lock } = redisKeyNames(key);
    await admin[0]!.set(lock, token, 'PX', 200); // an earlier attempt landed here only
    await admin[1]!.set(lock, 'someone-else', 'PX', 5_000);
    const outcome = await backend().tryAcquire({ key, token, ttlMs: 5_000 });
    expect(outcome.status).toBe('acquired');
    expect(await admin[0]!.pttl(lock)).toBeGreaterThan(4_000);
    // (The third node's SET may come after the quorum's answers.)
    expect(
      await eventually(
        () => holders(admin, key),
        (tokens) => tokens[2] === token,
      ),
    ).toEqual([token, 'someone-else', token]);
  });

  it('every acquire is one script per node, alone or in a burst', async () => {
    const clients = await connectedLockClients(urls);
    // What node 0 is sent for acquires (a failed attempt's unlock, a script too, is left out).
    const sent: string[] = [];
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
    let acquireSha: string | undefined;
    interceptCommands(clients[0]!, (command, send) => {
      const first = String(command.args[0]);
      // The connection check's commands (INFO, the sync marker, a counter resync) are not acquires.
      if (['info', 'scan', 'mget'].includes(command.name) || first.endsWith('node-sync')) return send();
      if (command.name === 'eval' && first.includes("redis.call('SET', KEYS[1], ARGV[1], 'PX'")) {
        acquireSha = sha1(first);
      }
      const script = command.name === 'eval' ? sha1(first) : command.name === 'evalsha' ? first : undefined;
      if (script === undefined || script === acquireSha) sent.push(command.name);
      return send();
    });
    try {
      const created = backend({ clients });
      // Every node past its connection check (an acquire that waited for one would share a
      // burst with the next), and the acquire script sent in full once.
      const warm = { key: uniqueKey('warm-up'), token: 'w' };
      expect(await created.tryAcquire({ ...warm, ttlMs: 5_000 })).toMatchObject({ status: 'acquired' });
      await eventually(
        () => holders(admin, warm.key),
        (tokens) => tokens.every((token) => token === 'w'),
      );
      expect(await created.release(warm)).toBe(true);
      expect(sent.splice(0)).toEqual(['eval']);
      const key = uniqueKey('plain');
      const { lock, fence } = redisKeyNames(key);
      const first = await created.tryAcquire({ key, token: 'first', ttlMs: 5_000 });
      expect(first).toMatchObject({ status: 'acquired', fence: 1 });
      const second = await created.tryAcquire({ key, token: 'second', ttlMs: 5_000 });
      expect(second.status === 'held' && second.retryAfterMs).toBeGreaterThan(4_000);
      expect(sent.splice(0)).toEqual(['evalsha', 'evalsha']); // one script each, the held key's PTTL included
      const fences = () => Promise.all(admin.map((client) => client.get(fence)));
      const all = (value: string) => (values: (string | null)[]) => values.every((v) => v === value);
      expect(await eventually(fences, all('1'))).toEqual(['1', '1', '1']);
      // Acquires sent together: the same script each (one socket write per node); an attempt on
      // a held key counts no fence.
      const burst = await Promise.all(
        [uniqueKey('burst'), key, key].map((k) =>
          created.tryAcquire({ key: k, token: 'third', ttlMs: 5_000 }),
        ),
      );
      expect(burst.map((outcome) => outcome.status)).toEqual(['acquired', 'held', 'held']);
      for (const outcome of burst.slice(1)) {
        expect(outcome.status === 'held' && outcome.retryAfterMs).toBeGreaterThan(4_000);
      }
      await eventually(
        async () => sent.length,
        (length) => length >= 3,
      );
      expect(sent.splice(0)).toEqual(['evalsha', 'evalsha', 'evalsha']);
      expect(await fences()).toEqual(['1', '1', '1']);
      expect(await holders(admin, key)).toEqual(['first', 'first', 'first']);
      expect(await admin[0]!.pttl(lock)).toBeGreaterThan(4_000);
    } finally {
      await closeAll(clients);
    }
  });

  it('fencing tokens strictly increase across holders whose quorums are different nodes', async () => {
    const key = uniqueKey('fence');
    const { lock, fence } = redisKeyNames(key);
    const created = backend();
    // Make the counters disagree: node 0 has counted far more acquisitions than the others.
    await admin[0]!.set(fence, '100');
    const fences: number[] = [];
    for (const blocked of [2, 0, 1, 2, 0]) {
      // Someone else holds the key on one node, so the quorum is the two others.
      await admin[blocked]!.set(lock, 'blocker', 'PX', 5_000);
      const token = randomUUID();
      const outcome = await created.tryAcquire({ key, token, ttlMs: 5_000 });
      expect(outcome.status).toBe('acquired');
      const value = outcome.status === 'acquired' ? outcome.fence! : 0;
      fences.push(value);
      // Before the lease was handed out, both nodes of its quorum counted at least that far.
      const counters = await Promise.all(admin.map((client) => client.get(fence)));
      for (const [index, counter] of counters.entries())
        if (index !== blocked) expect(Number(counter)).toBeGreaterThanOrEqual(value);
      expect(await created.release({ key, token })).toBe(true);
      await admin[blocked]!.del(lock);
    }
    expect(fences[0]).toBe(101);
    for (let i = 1; i < fences.length; i++) expect(fences[i]!).toBeGreaterThan(fences[i - 1]!);
    // Release does not reset the counters; inspect reports the highest.
    expect(await created.inspect(key)).toEqual({ key, held: false, fence: fences.at(-1) });
  });

  it('inspect shows the holder a quorum agrees on', async () => {
    const key = uniqueKey('inspect');
    const locker = createLocker(backend(), { ttl: '5s' });
    const lease = await locker.acquire(key);
    const info = await locker.inspect(key);
    expect(info).toMatchObject({ key, held: true, token: lease.token, fence: lease.fence });
    expect(info!.ttlRemainingMs).toBeGreaterThan(4_000);
    await lease.release();
    expect(await locker.inspect(uniqueKey('never-used'))).toBeNull();
  });

  it("inspect tells the holder's owner; the owner key lives, is renewed and is deleted with the lock key", async () => {
    const created = backend();
    const key = uniqueKey('owner');
    const names = redisKeyNames(key);
    const token = randomUUID();
    await created.tryAcquire({ key, token, ttlMs: 5_000, owner: 'worker-7' });
    expect(await created.inspect(key)).toMatchObject({ key, held: true, token, owner: 'worker-7' });
    // Each call returns on a quorum's answers: the last node may apply it a moment later.
    const onEveryNode = <T>(
      read: (client: (typeof admin)[number]) => Promise<T>,
      ok: (value: T) => boolean,
    ) =>
      eventually(
        () => Promise.all(admin.map(read)),
        (values) => values.every(ok),
      );
    const ownerValue = `${token}\nworker-7`;
    expect(
      await onEveryNode(
        (client) => client.get(names.owner),
        (value) => value === ownerValue,
      ),
    ).toEqual(admin.map(() => ownerValue));
    for (const ttl of await onEveryNode(
      (client) => client.pttl(names.owner),
      (ttl) => ttl > 4_000,
    )) {
      expect(ttl).toBeGreaterThan(4_000);
    }
    // Renewal extends both keys alike (one at a time and in a batch).
    expect(await created.renew({ key, token }, 20_000)).toEqual({ status: 'renewed' });
    for (const ttl of await onEveryNode(
      (client) => client.pttl(names.owner),
      (ttl) => ttl > 15_000,
    )) {
      expect(ttl).toBeGreaterThan(15_000);
    }
    await created.renewMany([{ lease: { key, token }, ttlMs: 40_000 }]);
    const both = await onEveryNode(
      (client) => Promise.all([client.pttl(names.lock), client.pttl(names.owner)]),
      ([, owner]) => owner > 35_000,
    );
    for (const [lock, owner] of both) {
      expect(owner).toBeGreaterThan(35_000);
      expect(Math.abs(owner - lock)).toBeLessThan(100);
    }
    expect(await created.release({ key, token })).toBe(true);
    expect(
      await onEveryNode(
        (client) => client.exists(names.owner),
        (n) => n === 0,
      ),
    ).toEqual([0, 0, 0]);

    // A holding without an owner shows none, even where an older client's release left the
    // previous holder's behind.
    await Promise.all(admin.map((client) => client.set(names.owner, `${token}\nworker-7`, 'PX', 60_000)));
    const second = randomUUID();
    await created.tryAcquire({ key, token: second, ttlMs: 5_000 });
    const info = await created.inspect(key);
    expect(info).toMatchObject({ key, held: true, token: second });
    expect(info!.owner).toBeUndefined();
    expect(await created.release({ key, token: second })).toBe(true);
  });

  it('an owner expires with its holding', async () => {
    const created = backend();
    const key = uniqueKey('owner-expiry');
    await created.tryAcquire({ key, token: randomUUID(), ttlMs: 200, owner: 'worker-8' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const client of admin) expect(await client.exists(redisKeyNames(key).owner)).toBe(0);
    await created.tryAcquire({ key, token: randomUUID(), ttlMs: 5_000 });
    const info = await created.inspect(key);
    expect(info?.held).toBe(true);
    expect(info!.owner).toBeUndefined();
  });

  it('a hand-over extends the owner key with the lock key', async () => {
    const created = backend();
    const key = uniqueKey('owner-hand-over');
    const names = redisKeyNames(key);
    const token = randomUUID();
    await created.tryAcquire({ key, token, ttlMs: 2_000, owner: 'worker-9' });
    const outcome = await created.handOver({ key, token }, 30_000, 1);
    expect(outcome.status).toBe('renewed');
    // (A node the quorum did not wait for may apply the acquire and the hand-over later.)
    const ttls = await eventually(
      () =>
        Promise.all(admin.map((client) => Promise.all([client.pttl(names.lock), client.pttl(names.owner)]))),
      (perNode) => perNode.every(([, owner]) => owner > 25_000),
    );
    for (const [lock, owner] of ttls) {
      expect(owner).toBeGreaterThan(25_000);
      expect(Math.abs(owner - lock)).toBeLessThan(100);
    }
    expect(await created.inspect(key)).toMatchObject({ owner: 'worker-9' });
    expect(await created.release({ key, token })).toBe(true);
  });

  it('an acquire that lands on too few nodes takes its owner key back with its lock key', async () => {
    const created = backend();
    const key = uniqueKey('owner-unlock');
    const names = redisKeyNames(key);
    // Held elsewhere on two nodes of three: the attempt lands on the third only.
    await Promise.all(
      admin.slice(0, 2).map((client) => client.set(names.lock, 'someone-else', 'PX', 10_000)),
    );
    const outcome = await created.tryAcquire({ key, token: randomUUID(), ttlMs: 5_000, owner: 'worker-10' });
    expect(outcome.status).toBe('held');
    // The attempt did land there (its script ran), and was taken back, owner key and all.
    const landed = await eventually(
      () => Promise.all([admin[2]!.exists(names.lock), admin[2]!.exists(names.owner)]),
      (counts) => counts.every((count) => count === 0),
      2_000,
    );
    expect(landed).toEqual([0, 0]);
  });

  it('thousands of operations in one burst all get their own answers', async () => {
    const created = backend();
    const keys = Array.from({ length: 3_000 }, (_, i) => uniqueKey(`burst-${i}`));
    const outcomes = await Promise.all(
      keys.map((key) => created.tryAcquire({ key, token: key, ttlMs: 10_000 })),
    );
    expect(outcomes.every((outcome) => outcome.status === 'acquired')).toBe(true);
    const fences = outcomes.map((outcome) => (outcome.status === 'acquired' ? outcome.fence : undefined));
    expect(fences.every((fence) => typeof fence === 'number' && fence > 0)).toBe(true);
    const released = await Promise.all(keys.map((key) => created.release({ key, token: key })));
    expect(released.every(Boolean)).toBe(true);
  });

  it('renewMany renews every lease with one pipelined round trip per node', async () => {
    const clients = urls.map((url) => createLockClient(url));
    await Promise.all(
      clients.map((client) => client.ping().catch(() => new Promise((r) => client.once('ready', r)))),
    );
    const created = backend({ clients });
    const base = uniqueKey('batch');
    const leases = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const lease = { key: `${base}-${i}`, token: randomUUID() };
        expect((await created.tryAcquire({ ...lease, ttlMs: 2_000 })).status).toBe('acquired');
        return lease;
      }),
    );
    // A restarted or flushed node has lost the scripts: the batch loads it and goes again, and
    // single commands fall back from EVALSHA to EVAL.
    await Promise.all(admin.map((client) => client.script('FLUSH')));
    const probe = { key: uniqueKey('noscript'), token: randomUUID() };
    expect((await created.tryAcquire({ ...probe, ttlMs: 2_000 })).status).toBe('acquired');
    expect(await created.renew(probe, 2_000)).toEqual({ status: 'renewed' });
    expect(await created.release(probe)).toBe(true);
    await admin[0]!.script('FLUSH');
    const first = await created.renewMany(leases.map((lease) => ({ lease, ttlMs: 2_000 })));
    expect(first.every((outcome) => outcome.status === 'renewed')).toBe(true);
    const stolen = leases[7]!;
    await Promise.all(
      admin.map((client) => client.set(redisKeyNames(stolen.key).lock, 'thief', 'PX', 10_000)),
    );
    // MONITOR shows every command each server runs (scripts' inner calls too); other test files
    // share these servers, so count ours only.
    const watched = await watch(base);
    const writes = clients.map(() => 0);
    const restore = clients.map((client, index) => {
      const stream = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
      const write = stream.write;
      stream.write = (...args: unknown[]) => {
        writes[index]!++;
        return write.apply(stream, args);
      };
      return () => {
        stream.write = write;
      };
    });
    const outcomes = await created.renewMany(leases.map((lease) => ({ lease, ttlMs: 60_000 })));
    for (const undo of restore) undo();
    expect(writes).toEqual([1, 1, 1]);
    expect(outcomes.filter((outcome) => outcome.status === 'renewed')).toHaveLength(99);
    expect(outcomes[7]).toMatchObject({ status: 'lost' });
    // Every node ran the renew script once per lease.
    const runs = () =>
      Promise.resolve(watched.seen.map((names) => names.filter((name) => name.startsWith('eval')).length));
    expect(await eventually(runs, (counts) => counts.every((count) => count >= 100))).toEqual([
      100, 100, 100,
    ]);
    await watched.stop();
    expect(await admin[0]!.pttl(redisKeyNames(leases[0]!.key).lock)).toBeGreaterThan(50_000);
    await Promise.all(leases.map((lease) => created.release(lease)));
    await closeAll(clients);
  });

  it('operations started in one tick, a renewMany among them, each get their own answers', async () => {
    const created = backend();
    const keys = Array.from({ length: 8 }, () => uniqueKey('one-tick'));
    const held = await Promise.all(
      keys.slice(0, 4).map(async (key) => {
        const lease = { key, token: randomUUID() };
        expect((await created.tryAcquire({ ...lease, ttlMs: 5_000 })).status).toBe('acquired');
        return lease;
      }),
    );
    // One burst per node: new keys, held keys, a renewal of three held leases, a release.
    const fresh = keys.slice(4).map((key) => created.tryAcquire({ key, token: randomUUID(), ttlMs: 5_000 }));
    const taken = held
      .slice(0, 2)
      .map(({ key }) => created.tryAcquire({ key, token: randomUUID(), ttlMs: 5_000 }));
    const renewed = created.renewMany(held.slice(0, 3).map((lease) => ({ lease, ttlMs: 30_000 })));
    const released = created.release(held[3]!);
    expect((await Promise.all(fresh)).map((outcome) => outcome.status)).toEqual([
      'acquired',
      'acquired',
      'acquired',
      'acquired',
    ]);
    expect((await Promise.all(taken)).map((outcome) => outcome.status)).toEqual(['held', 'held']);
    expect((await renewed).map((outcome) => outcome.status)).toEqual(['renewed', 'renewed', 'renewed']);
    expect(await released).toBe(true);
    // Extended on a quorum: the grant and the renewal were decided by the first two nodes, and a
    // third that a loaded machine starves may not have run even the first SET yet.
    const lock = redisKeyNames(held[0]!.key).lock;
    const pttls = await Promise.all(admin.map((client) => client.pttl(lock)));
    expect(pttls.filter((pttl) => pttl > 10_000).length).toBeGreaterThanOrEqual(2);
    expect(await eventually(() => holders(admin, held[3]!.key), all(null))).toEqual([null, null, null]);
  });

  it("on clients shared with the application, the application's commands in the same tick get their own answers", async () => {
    const clients = await connectedLockClients(urls);
    const shared = backend({ clients });
    try {
      const appKey = uniqueKey('app-data');
      const acquires = Array.from({ length: 4 }, () =>
        shared.tryAcquire({ key: uniqueKey('shared'), token: randomUUID(), ttlMs: 5_000 }),
      );
      const written = clients[0]!.set(appKey, 'application value');
      const more = shared.tryAcquire({ key: uniqueKey('shared'), token: randomUUID(), ttlMs: 5_000 });
      const read = clients[0]!.get(appKey);
      expect((await Promise.all([...acquires, more])).map((outcome) => outcome.status)).toEqual([
        'acquired',
        'acquired',
        'acquired',
        'acquired',
        'acquired',
      ]);
      expect(await written).toBe('OK');
      expect(await read).toBe('application value');
    } finally {
      await closeAll(clients);
    }
  });

  it('a waiter is woken by the release, long before its next retry', async () => {
    const key = uniqueKey('hint');
    const holder = createLocker(backend(), { ttl: '10s' });
    const waiter = createLocker(backend(), { ttl: '10s', retry: { initial: '3s', max: '3s', maxJitter: 0 } });
    const lease = await holder.acquire(key);
    const waiting = waiter.acquire(key, { wait: '10s' });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the waiter has failed once and subscribed
    const releasedAt = performance.now();
    await lease.release();
    const next = await waiting;
    expect(performance.now() - releasedAt).toBeLessThan(200);
    await next.release();
  });

  it('a hot key is handed from waiter to waiter in about a round trip, across lockers', async () => {
    const key = uniqueKey('hand-over');
    const retry = { initial: '5s', max: '5s', maxJitter: 0 } as const;
    const holder = createLocker(backend(), { ttl: '10s' });
    const lockers = Array.from({ length: 3 }, () => createLocker(backend(), { ttl: '10s', retry }));
    const first = await holder.acquire(key);
    let holders = 0;
    const waiters = Array.from({ length: 6 }, async (_, i) => {
      const lease = await lockers[i % 3]!.acquire(key, { wait: '10s' });
      expect(++holders).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      holders--;
      await lease.release();
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // every waiter has failed once and waits 5 s
    const started = performance.now();
    await first.release();
    await Promise.all(waiters);
    // Six hand-overs, where polling would have waited 5 s for each.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('a key clashing with application data of another type is a non-retryable error', async () => {
    const key = uniqueKey('wrongtype');
    await admin[0]!.hset(redisKeyNames(key).lock, 'field', 'value');
    const error = await backend({ nodes: urls.slice(0, 1) })
      .tryAcquire({ key, token: randomUUID(), ttlMs: 1_000 })
      .catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as LeaseError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/WRONGTYPE/);
  });

  it('a permanent error on one node of three does not stop the quorum; on two it is final', async () => {
    const one = uniqueKey('wrongtype-one');
    await admin[0]!.hset(redisKeyNames(one).lock, 'field', 'value');
    const three = backend({ nodes: urls.slice(0, 3) });
    const outcome = await three.tryAcquire({ key: one, token: randomUUID(), ttlMs: 1_000 });
    expect(outcome.status).toBe('acquired');
    const two = uniqueKey('wrongtype-two');
    await admin[0]!.hset(redisKeyNames(two).lock, 'field', 'value');
    await admin[1]!.hset(redisKeyNames(two).lock, 'field', 'value');
    const error = await three
      .tryAcquire({ key: two, token: randomUUID(), ttlMs: 1_000 })
      .catch((e: unknown) => e);
    expect(isLeaseError(error, 'QUORUM_NOT_REACHED')).toBe(true);
    expect((error as LeaseError).retryable).toBe(false);
  });

  it('a failed SET is handled even when the INCR after it is answered in a later read', async () => {
    const key = uniqueKey('wrongtype-late-incr');
    await admin[0]!.hset(redisKeyNames(key).lock, 'field', 'value');
    const clients = await connectedLockClients(urls.slice(0, 3));
    // Node 0 answers the SET (WRONGTYPE) at once and the INCR 30 ms later, in a read of its own.
    interceptCommands(clients[0]!, (command, send) => {
      if (command.name !== 'incr') return send();
      setTimeout(send, 30);
      return command.promise;
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const outcome = await backend({ clients }).tryAcquire({ key, token: randomUUID(), ttlMs: 1_000 });
      expect(outcome.status).toBe('acquired');
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await closeAll(clients);
    }
  });

  it('close() closes what it created, leaves given clients open, and refuses new work', async () => {
    const client = createLockClient(urls[0]!);
    const created = createRedisBackend({ clients: [client] });
    const owned = createRedisBackend({ nodes: urls.slice(0, 1) });
    const key = uniqueKey('close');
    await created.tryAcquire({ key, token: 't', ttlMs: 1_000 });
    await owned.tryAcquire({ key: uniqueKey('close'), token: 't', ttlMs: 1_000 });
    await Promise.all([created.close(), owned.close()]);
    await created.close(); // idempotent
    expect(client.status).toBe('ready');
    await expect(created.tryAcquire({ key, token: 't', ttlMs: 1_000 })).rejects.toMatchObject({
      code: 'CLOSED',
    });
    client.disconnect();
  });
});

describe('on connections it created', () => {
  it('keys and tokens beyond ASCII are written byte-exact, through ioredis sendCommand', async () => {
    const created = backend({ nodes: urls });
    await created.inspect(uniqueKey('warm-up')); // waits for every node: all connected
    const key = `${uniqueKey('utf8')}:clé-🔒-ключ`;
    const token = 'tök€n-🔑';
    const sendCommand = vi.spyOn(Redis.prototype, 'sendCommand');
    try {
      const outcome = await created.tryAcquire({ key, token, ttlMs: 5_000 });
      expect(outcome.status).toBe('acquired');
      expect(await created.inspect(key)).toMatchObject({ key, held: true, token });
      expect(await eventually(() => holders(admin, key), all(token))).toEqual([token, token, token]);
      expect(await created.release({ key, token })).toBe(true);
      // Every command of ours went through ioredis' public path (a pipeline's included).
      const ours = sendCommand.mock.calls.filter(
        (_, i) => !admin.includes(sendCommand.mock.contexts[i] as Redis),
      );
      expect(ours.map(([command]) => command.name).filter((name) => name.startsWith('eval'))).toHaveLength(9);
    } finally {
      sendCommand.mockRestore();
    }
    expect(await eventually(() => holders(admin, key), all(null))).toEqual([null, null, null]);
  });

  it('client options that make ioredis time, re-send or hold back commands leave them unharmed', async () => {
    // `reconnectOnError` answering 2 re-sends the failed command; `commandTimeout` times each one.
    const created = backend({
      nodes: urls.slice(0, 1),
      clientOptions: { reconnectOnError: () => 2, commandTimeout: 1_000 },
    });
    await created.inspect(uniqueKey('warm-up'));
    const sendCommand = vi.spyOn(Redis.prototype, 'sendCommand');
    try {
      const lease = { key: uniqueKey('through-ioredis'), token: 'ours' };
      expect(await created.tryAcquire({ ...lease, ttlMs: 1_000 })).toMatchObject({ status: 'acquired' });
      expect(await created.release(lease)).toBe(true);
      expect(sendCommand.mock.contexts.filter((client) => !admin.includes(client as Redis)).length).toBe(2);
    } finally {
      sendCommand.mockRestore();
    }
    // An error answer that ioredis re-sends (after reconnecting): a clean failure, nothing uncaught.
    const key = uniqueKey('wrongtype-resent');
    await admin[0]!.hset(redisKeyNames(key).lock, 'field', 'value');
    const error = await created.tryAcquire({ key, token: 'ours', ttlMs: 1_000 }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
  });

  it('under load, a WRONGTYPE on one node leaves the quorum to the others; on two, the error is final', async () => {
    const created = backend({ nodes: urls });
    await created.inspect(uniqueKey('warm-up')); // every node connected
    const one = uniqueKey('wrongtype-load-one');
    const two = uniqueKey('wrongtype-load-two');
    await admin[0]!.hset(redisKeyNames(one).lock, 'field', 'value');
    await Promise.all(admin.slice(0, 2).map((client) => client.hset(redisKeyNames(two).lock, 'f', 'v')));
    const watched = await watch(JSON.stringify(redisKeyNames(one).lock));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Sent in one tick after other acquires (one write per node).
      const others = Array.from({ length: 5 }, () =>
        created.tryAcquire({ key: uniqueKey('load'), token: randomUUID(), ttlMs: 2_000 }),
      );
      const outcome = created.tryAcquire({ key: one, token: 'ours', ttlMs: 2_000 });
      const failed = created.tryAcquire({ key: two, token: 'ours', ttlMs: 2_000 }).catch((e: unknown) => e);
      expect((await Promise.all(others)).every((o) => o.status === 'acquired')).toBe(true);
      expect(await outcome).toMatchObject({ status: 'acquired', fence: 1 });
      const error = await failed;
      expect(isLeaseError(error, 'QUORUM_NOT_REACHED')).toBe(true);
      expect((error as LeaseError).retryable).toBe(false);
      expect((error as Error).message).toMatch(/WRONGTYPE/);
      // The script stopped at the hash on node 0; the others took the key.
      const seen = await eventually(
        async () => watched.seen.map((names) => names.includes('set')),
        (sets) => sets[1] === true && sets[2] === true,
      );
      expect(seen).toEqual([false, true, true]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await watched.stop();
    }
  });

  it("a burst's operations go to each node as one batch script, each answered on its own, an error included", async () => {
    // Under the client's keyPrefix, which ioredis applies to the batch's keys too.
    const created = backend({ nodes: urls, clientOptions: { keyPrefix: 'app:' } });
    await created.inspect(uniqueKey('warm-up')); // every node connected
    // Nodes new to this namespace have their fence counters brought up in the background (a
    // script over every counter key, ours too): done before we watch.
    await eventually(
      () => Promise.all(admin.map((client) => client.get('app:leasekit:node-sync'))),
      (markers) => markers.every((marker) => marker !== null),
      5_000,
    );
    const base = uniqueKey('batch');
    const prefix = 'app:leasekit:';
    const [first, ...fresh] = [1, 2, 3, 4].map((i) => `${base}-${i}`);
    const held = `${base}-held`;
    const wrong = `${base}-wrongtype`;
    const mine = { key: `${base}-mine`, token: 'mine' };
    const lock = (key: string) => redisKeyNames(key, prefix).lock;
    await Promise.all(admin.map((client) => client.set(lock(held), 'other', 'PX', 5_000)));
    await Promise.all(admin.map((client) => client.hset(lock(wrong), 'field', 'value')));
    expect(await created.tryAcquire({ ...mine, ttlMs: 5_000 })).toMatchObject({ status: 'acquired' });
    await eventually(() => holders(admin, mine.key, prefix), all('mine'));
    const watched = await watch(base);
    try {
      // One tick: the first acquire goes at once, the rest wait for the burst's end. The
      // WRONGTYPE comes before calls that must still run.
      const acquire = (key: string) => created.tryAcquire({ key, token: 'new', ttlMs: 5_000 });
      const [one, failed, others, heldOutcome, released] = await Promise.all([
        acquire(first!),
        acquire(wrong).catch((error: unknown) => error),
        Promise.all(fresh.map(acquire)),
        acquire(held),
        created.release(mine),
      ]);
      for (const outcome of [one, ...others]) expect(outcome).toMatchObject({ status: 'acquired', fence: 1 });
      expect(isLeaseError(failed, 'QUORUM_NOT_REACHED')).toBe(true);
      expect((failed as LeaseError).retryable).toBe(false);
      expect((failed as Error).message).toMatch(/WRONGTYPE/);
      expect(heldOutcome.status === 'held' && heldOutcome.retryAfterMs).toBeGreaterThan(4_000);
      expect(released).toBe(true);
      for (const key of [first!, ...fresh]) {
        expect(await eventually(() => holders(admin, key, prefix), all('new'))).toEqual([
          'new',
          'new',
          'new',
        ]);
      }
      expect(await eventually(() => holders(admin, mine.key, prefix), all(null))).toEqual([null, null, null]);
      expect(await holders(admin, held, prefix)).toEqual(['other', 'other', 'other']);
      // Each node: the first acquire alone, then one command for the six other operations.
      const quoted = (key: string) => JSON.stringify(lock(key));
      const scripts = async () =>
        watched.lines.map((lines) => lines.filter((line) => line.startsWith('"eval')));
      const both = (nodes: string[][]) => nodes.every((lines) => lines.length === 2);
      for (const [single, batch] of await eventually(scripts, both)) {
        expect(single).toContain(quoted(first!));
        expect(single).not.toContain(quoted(wrong));
        for (const key of [wrong, ...fresh, held, mine.key]) expect(batch).toContain(quoted(key));
      }
    } finally {
      await watched.stop();
    }
  });

  // Servers of their own: a backend of another test file, new on the shared servers, sends the
  // scripts in full and caches them again right after a SCRIPT FLUSH.
  describe('after SCRIPT FLUSH', () => {
    const own = { urls: [] as string[], admin: [] as Redis[], servers: [] as RedisServer[] };
    beforeAll(async () => {
      own.servers = await startRedisServers(3);
      own.urls = own.servers.map((server) => server.url);
      own.admin = adminClients(own.urls);
    });
    afterAll(async () => {
      await closeAll(own.admin);
      await stopAll(own.servers);
    });

    it('a node that lost its scripts answers NOSCRIPT once: the script is sent again in full', async () => {
      const created = backend({ nodes: own.urls });
      const warm = { key: uniqueKey('warm-up'), token: 'w' };
      await created.inspect(warm.key); // waits for every node: all connected
      await created.tryAcquire({ ...warm, ttlMs: 1_000 }); // the acquire script sent on every node
      expect(await created.release(warm)).toBe(true); // and the release script
      await eventually(() => holders(own.admin, warm.key), all(null)); // all answered
      await Promise.all(own.admin.map((client) => client.script('FLUSH')));
      const lease = { key: uniqueKey('noscript-owned'), token: 'ours' };
      const watched = await watch(JSON.stringify(redisKeyNames(lease.key).lock), own.urls);
      try {
        expect(await created.tryAcquire({ ...lease, ttlMs: 2_000 })).toMatchObject({ status: 'acquired' });
        expect(await created.release(lease)).toBe(true);
        expect(await eventually(() => holders(own.admin, lease.key), all(null))).toEqual([null, null, null]);
        // Each node: EVALSHA refused, then EVAL, for the acquire and for the release (a node the
        // acquire's quorum did not wait for may get the release's EVALSHA before the acquire's EVAL).
        const scripts = async () =>
          watched.seen.map((names) =>
            names
              .filter((name) => name.startsWith('eval'))
              .sort()
              .join(' '),
          );
        const twice = (lines: string[]) => lines.every((line) => line === 'eval eval evalsha evalsha');
        const lines = await eventually(scripts, twice);
        for (const line of lines)
          expect(['eval eval evalsha evalsha', 'eval evalsha evalsha', 'evalsha evalsha']).toContain(line);
        expect(lines).toContain('eval eval evalsha evalsha');
      } finally {
        await watched.stop();
      }
    });

    it('a batch answered NOSCRIPT (SCRIPT FLUSH) is sent again in full, and every operation answered', async () => {
      const created = backend({ nodes: own.urls });
      await created.inspect(uniqueKey('warm-up')); // every node connected
      const base = uniqueKey('batch-noscript');
      const burst = (token: string) =>
        Promise.all(
          [1, 2, 3].map((i) => created.tryAcquire({ key: `${base}-${token}-${i}`, token, ttlMs: 5_000 })),
        );
      // A first burst: the acquire script and the batch script sent in full on every node.
      expect((await burst('a')).map((outcome) => outcome.status)).toEqual([
        'acquired',
        'acquired',
        'acquired',
      ]);
      await Promise.all(own.admin.map((client) => client.script('FLUSH')));
      const watched = await watch(`${base}-b-`, own.urls);
      try {
        expect((await burst('b')).map((outcome) => outcome.status)).toEqual([
          'acquired',
          'acquired',
          'acquired',
        ]);
        for (const i of [1, 2, 3]) {
          expect(await eventually(() => holders(own.admin, `${base}-b-${i}`), all('b'))).toEqual([
            'b',
            'b',
            'b',
          ]);
        }
        // Each node: every command refused by EVALSHA and sent again by EVAL, the batch (the last
        // two acquires at least, the first too if it joined them) among them.
        const batches = async () =>
          watched.lines.map((lines) =>
            lines
              .filter((line) => line.startsWith('"eval') && line.includes(`${base}-b-2`))
              .map((line) => `${/^"(\w+)"/.exec(line)?.[1]} ${line.includes(`${base}-b-3`)}`)
              .sort(),
          );
        const resent = (nodes: string[][]) => nodes.every((lines) => lines.length === 2);
        expect(await eventually(batches, resent)).toEqual(Array(3).fill(['eval true', 'evalsha true']));
        const counts = async () =>
          watched.seen.map((names) => {
            const evalsha = names.filter((name) => name === 'evalsha').length;
            return evalsha === names.filter((name) => name === 'eval').length;
          });
        expect(await eventually(counts, (equal) => !equal.includes(false))).toEqual([true, true, true]);
      } finally {
        await watched.stop();
      }
    });
  });
});

describe('classifyError', () => {
  it('maps ioredis errors to LeaseErrors that say whether a retry can help', () => {
    const cases: [unknown, string, boolean][] = [
      [new ReplyError('LOADING Redis is loading the dataset in memory'), 'BACKEND_UNAVAILABLE', true],
      [
        new ReplyError('READONLY You can not write against a read only replica.'),
        'BACKEND_UNAVAILABLE',
        true,
      ],
      [new ReplyError('CLUSTERDOWN The cluster is down'), 'BACKEND_UNAVAILABLE', true],
      [new ReplyError('NOAUTH Authentication required.'), 'BACKEND_UNAVAILABLE', false],
      [
        new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
        'BACKEND_UNAVAILABLE',
        false,
      ],
      [
        new Error("Stream isn't writeable and enableOfflineQueue options is false"),
        'BACKEND_UNAVAILABLE',
        true,
      ],
      [new Error('connect ECONNREFUSED 127.0.0.1:1'), 'BACKEND_UNAVAILABLE', true],
      [new Error('Command timed out'), 'BACKEND_UNAVAILABLE', true],
    ];
    for (const [cause, code, retryable] of cases) {
      const error = classifyError(cause, 'acquire', 'k');
      expect(error).toBeInstanceOf(LeaseError);
      expect([error.code, error.retryable, error.cause]).toEqual([code, retryable, cause]);
      expect(error.message).toMatch(/^\[leasekit\] \[redis\] acquire "k": /);
    }
    const passthrough = classifyError(new LeaseError('NOT_HOLDER', 'x'), 'release');
    expect(passthrough.code).toBe('NOT_HOLDER');
  });
});
