import { randomUUID } from 'node:crypto';
import { redisKeyNames } from '@leasekit/redis';
import { startRedisServers } from '@leasekit/testing';
import { redisUrls } from '@leasekit/testing/vitest';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEYS, call, problem, type Service, startService, waitersOn } from './helpers.js';

// Two instances over the same three redis-server nodes (the project's global setup) serve the
// same locks: stateless, every lock in the store, any instance renews or releases any lease.

const key = () => `r-${randomUUID()}`;
const env = () => ({
  LEASEKIT_BACKEND: 'redis',
  LEASEKIT_REDIS_URLS: redisUrls().join(','),
  LEASEKIT_REDIS_PREFIX: 'lock-service-test:',
});

let a: Service;
let b: Service;
beforeAll(async () => {
  [a, b] = await Promise.all([startService(env()), startService(env())]);
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
});

describe('two instances over 3 Redis nodes', () => {
  it('the default holder (timeout mode, no owner, no metadata) stores no owner key', async () => {
    const k = key();
    const lease = await call(a.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '10s' } });
    expect(lease.status).toBe(201);
    const seen = await call(b.url, 'GET', `/v1/locks/${k}`);
    expect(seen.body).toMatchObject({ owner: null, mode: 'timeout', metadata: null });
    const names = redisKeyNames(`alpha/${k}`, 'lock-service-test:');
    const admin = redisUrls().map((url) => new Redis(url));
    try {
      const locks = await Promise.all(admin.map((client) => client.exists(names.lock)));
      expect(locks.filter((found) => found === 1).length).toBeGreaterThanOrEqual(2); // a quorum holds it
      const owners = await Promise.all(admin.map((client) => client.exists(names.owner)));
      expect(owners).toEqual(admin.map(() => 0));
    } finally {
      for (const client of admin) client.disconnect();
    }
    await call(a.url, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.body.token } });
  });

  it('serve one lock consistently: acquire on A, 409 on B, renew and release through B', async () => {
    const k = key();
    const lease = await call(a.url, 'POST', `/v1/locks/${k}`, {
      body: { ttl: '10s', owner: 'on-a', mode: 'lease', metadata: { order: '42' } },
    });
    expect(lease.status).toBe(201);
    expect(lease.body.fence).toMatch(/^\d+$/);
    const held = await call(b.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '10s' } });
    problem(held, 409, 'LOCK_HELD');
    expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Who holds it, from the store (the Redis backend keeps the holder's owner string).
    expect(held.body.holder).toMatchObject({ owner: 'on-a' });
    const seen = await call(b.url, 'GET', `/v1/locks/${k}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ owner: 'on-a', mode: 'lease', metadata: { order: '42' } });
    expect(seen.body.fence).toBe(lease.body.fence);
    expect(seen.text).not.toContain(lease.body.token.split('.')[0]);

    const renewed = await call(b.url, 'POST', `/v1/locks/${k}/renew`, {
      headers: { 'lease-token': lease.body.token },
      body: { ttl: '20s' },
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body.fence).toBe(lease.body.fence);
    expect(renewed.body.ttlMs).toBe(20_000);

    const released = await call(b.url, 'DELETE', `/v1/locks/${k}`, {
      headers: { 'lease-token': lease.body.token },
    });
    expect(released.status).toBe(204);
    problem(
      await call(a.url, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.body.token } }),
      410,
      'LEASE_LOST',
    );
    const next = await call(a.url, 'POST', `/v1/locks/${k}`, { body: {} });
    expect(next.status).toBe(201);
    expect(BigInt(next.body.fence)).toBeGreaterThan(BigInt(lease.body.fence));
  });

  it('hands a request waiting on B the key released through A', async () => {
    const k = key();
    const lease = (await call(a.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s' } })).body;
    const waiting = call(b.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '5s', wait: '20s' } });
    await waitersOn(b.url, 1);
    expect(
      (await call(a.url, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } })).status,
    ).toBe(204);
    const granted = await waiting;
    expect(granted.status).toBe(201);
    expect(granted.body.waitedMs).toBeGreaterThan(0);
    expect(granted.body.waitedMs).toBeLessThan(20_000);
  });

  it('hands a request waiting on A the key A granted, released through B, long before its TTL', async () => {
    const k = key();
    const lease = (await call(a.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s' } })).body;
    // A keeps no handle that would make its waiter sleep until the 30 s lease's local deadline:
    // it keeps asking the store and listening for the release.
    const waiting = call(a.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '5s', wait: '5s' } });
    await waitersOn(a.url, 1);
    expect(
      (await call(b.url, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } })).status,
    ).toBe(204);
    const granted = await waiting;
    expect(granted.status).toBe(201);
    expect(BigInt(granted.body.fence)).toBeGreaterThan(BigInt(lease.fence));
    expect(granted.body.waitedMs).toBeLessThan(5_000);
  });

  it('gives an Idempotency-Key retry the same lease on the other instance', async () => {
    const k = key();
    const headers = { 'idempotency-key': randomUUID() };
    const first = await call(a.url, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s' } });
    const retry = await call(b.url, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s' } });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body.token).toBe(first.body.token);
    expect(retry.body.fence).toBe(first.body.fence);
    problem(
      await call(b.url, 'POST', `/v1/locks/${k}`, { headers: { 'idempotency-key': 'another' }, body: {} }),
      409,
      'LOCK_HELD',
    );
  });

  it('agree on the configured token secret across an API-key rotation: retries, renew and release by Idempotency-Key', async () => {
    // D has a key C does not (a key being added): the secret is configured, not derived from the
    // keys, so both derive the same store tokens.
    const [c, d] = await Promise.all([
      startService({ ...env(), LEASEKIT_TOKEN_SECRET: 'rotation-secret-0123456789abcdef012' }),
      startService({
        ...env(),
        LEASEKIT_TOKEN_SECRET: 'rotation-secret-0123456789abcdef012',
        LEASEKIT_API_KEYS: `${API_KEYS},gamma:gamma-key-0123456789abcdef`,
      }),
    ]);
    try {
      const k = key();
      const headers = { 'idempotency-key': randomUUID() };
      const first = await call(c.url, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s' } });
      expect(first.status).toBe(201);
      const retry = await call(d.url, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s' } });
      expect(retry.status).toBe(201);
      expect(retry.body.token).toBe(first.body.token);
      expect(retry.body.fence).toBe(first.body.fence);
      const renewed = await call(d.url, 'POST', `/v1/locks/${k}/renew`, {
        headers: { ...headers, 'lease-fence': first.body.fence },
        body: { ttl: '20s' },
      });
      expect(renewed.status).toBe(200);
      expect(renewed.body).toMatchObject({ fence: first.body.fence, ttlMs: 20_000 });
      expect((await call(d.url, 'DELETE', `/v1/locks/${k}`, { headers })).status).toBe(204);
      problem(await call(c.url, 'DELETE', `/v1/locks/${k}`, { headers }), 410, 'LEASE_LOST');
      expect((await call(c.url, 'POST', `/v1/locks/${k}`, { body: {} })).status).toBe(201);
    } finally {
      await Promise.all([c.close(), d.close()]);
    }
  });

  it('loses no lock when an instance restarts mid-run', async () => {
    const keys = Array.from({ length: 20 }, key);
    const leases = await Promise.all(
      keys.map(async (k) => (await call(a.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s' } })).body),
    );
    // A goes away (graceful shutdown: its clients' leases stay in the store) and comes back.
    await a.close();
    a = await startService(env());
    for (const [index, k] of keys.entries()) {
      problem(await call(b.url, 'POST', `/v1/locks/${k}`, { body: {} }), 409, 'LOCK_HELD');
      problem(await call(a.url, 'POST', `/v1/locks/${k}`, { body: {} }), 409, 'LOCK_HELD');
      const renewed = await call(a.url, 'POST', `/v1/locks/${k}/renew`, {
        headers: { 'lease-token': leases[index].token },
      });
      expect(renewed.status).toBe(200);
    }
    // B restarts too, while the leases are held through A.
    await b.close();
    b = await startService(env());
    for (const [index, k] of keys.entries()) {
      const seen = await call(b.url, 'GET', `/v1/locks/${k}`);
      expect(seen.status).toBe(200);
      // The latest fence the store drew for the key: on Redis a refused attempt may draw one too.
      expect(BigInt(seen.body.fence)).toBeGreaterThanOrEqual(BigInt(leases[index].fence));
      expect(
        (await call(b.url, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': leases[index].token } }))
          .status,
      ).toBe(204);
    }
  });

  it('keeps tenants apart in the shared store', async () => {
    const k = key();
    const alpha = (await call(a.url, 'POST', `/v1/locks/${k}`, { body: {} })).body;
    problem(await call(b.url, 'GET', `/v1/locks/${k}`, { tenant: 'beta' }), 404, 'NOT_FOUND');
    problem(
      await call(b.url, 'DELETE', `/v1/locks/${k}`, {
        tenant: 'beta',
        headers: { 'lease-token': alpha.token },
      }),
      410,
      'LEASE_LOST',
    );
    expect((await call(b.url, 'POST', `/v1/locks/${k}`, { tenant: 'beta', body: {} })).status).toBe(201);
  });
});

describe('a backend that goes down', () => {
  it('turns /readyz and lock requests into 503 with Retry-After', async () => {
    const servers = await startRedisServers(3);
    const service = await startService({
      LEASEKIT_BACKEND: 'redis',
      LEASEKIT_REDIS_URLS: servers.map((server) => server.url).join(','),
    });
    try {
      expect((await call(service.url, 'GET', '/readyz', { tenant: null })).status).toBe(200);
      const k = key();
      expect((await call(service.url, 'POST', `/v1/locks/${k}`, { body: {} })).status).toBe(201);
      await Promise.all(servers.map((server) => server.stop()));
      const ready = await call(service.url, 'GET', '/readyz', { tenant: null });
      const body = problem(ready, 503, 'BACKEND_UNAVAILABLE');
      expect(body.backend).toBe('redis');
      expect(ready.headers['retry-after']).toBeDefined();
      const acquire = await call(service.url, 'POST', `/v1/locks/${key()}`, { body: {} });
      expect(acquire.status).toBe(503);
      expect(['BACKEND_UNAVAILABLE', 'QUORUM_NOT_REACHED']).toContain(acquire.body.code);
      expect(acquire.headers['retry-after']).toBeDefined();
      expect(acquire.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
    } finally {
      await service.close();
      await Promise.all(servers.map((server) => server.stop()));
    }
  });
});
