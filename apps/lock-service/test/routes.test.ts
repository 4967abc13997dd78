import { randomUUID } from 'node:crypto';
import { createMemoryBackend, createMemoryStore } from '@leasekit/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, metricValue, problem, type Service, startService, waitersOn } from './helpers.js';

let service: Service;
let base: string;
const key = () => `k-${randomUUID()}`;

beforeAll(async () => {
  service = await startService();
  base = service.url;
});
afterAll(() => service.close());

describe('acquire, inspect, renew, release', () => {
  it('runs a lock through its life, with Location, fences and no token shown to others', async () => {
    const k = key();
    const acquired = await call(base, 'POST', `/v1/locks/${k}`, {
      body: { ttl: '10s', owner: 'worker-1', mode: 'lease', metadata: { job: '42' } },
    });
    expect(acquired.status).toBe(201);
    expect(acquired.headers.location).toBe(`/v1/locks/${k}`);
    expect(acquired.headers['x-request-id']).toBeTruthy();
    const lease = acquired.body;
    expect(lease).toMatchObject({ key: k, ttlMs: 10_000, owner: 'worker-1', mode: 'lease', fence: '1' });
    expect(lease.token).toMatch(/^[A-Za-z0-9._~-]{1,128}$/);
    expect(lease.expiresAt).toBeGreaterThan(lease.serverTime);
    expect(lease.expiresAt).toBeLessThanOrEqual(lease.serverTime + 10_000);
    expect(lease.waitedMs).toBeGreaterThanOrEqual(0);

    const seen = await call(base, 'GET', `/v1/locks/${k}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({
      key: k,
      held: true,
      owner: 'worker-1',
      fence: '1',
      mode: 'lease',
      metadata: { job: '42' },
    });
    expect(seen.body.ttlRemainingMs).toBeGreaterThan(0);
    expect(seen.text).not.toContain(lease.token.split('.')[0]);

    const held = await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: 1000 } });
    const body = problem(held, 409, 'LOCK_HELD');
    expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(body.holder).toMatchObject({ owner: 'worker-1' });
    expect(body.holder.expiresAt).toBeGreaterThan(Date.now() - 1000);
    expect(held.text).not.toContain(lease.token.split('.')[0]);

    const renewed = await call(base, 'POST', `/v1/locks/${k}/renew`, {
      headers: { 'lease-token': lease.token },
      body: { ttl: '20s' },
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ key: k, fence: '1', ttlMs: 20_000 });
    expect(renewed.body.expiresAt).toBeGreaterThan(lease.expiresAt);

    // No body at all, and an empty JSON body: the default TTL.
    const bare = await call(base, 'POST', `/v1/locks/${k}/renew`, {
      headers: { 'lease-token': lease.token },
    });
    expect(bare.status).toBe(200);
    expect(bare.body.ttlMs).toBe(30_000);
    const empty = await call(base, 'POST', `/v1/locks/${k}/renew`, {
      headers: { 'lease-token': lease.token, 'content-type': 'application/json' },
      raw: '',
    });
    expect(empty.status).toBe(200);

    const released = await call(base, 'DELETE', `/v1/locks/${k}`, {
      headers: { 'lease-token': lease.token },
    });
    expect(released.status).toBe(204);
    expect(released.text).toBe('');
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } }),
      410,
      'LEASE_LOST',
    );
    problem(
      await call(base, 'POST', `/v1/locks/${k}/renew`, { headers: { 'lease-token': lease.token } }),
      410,
      'LEASE_LOST',
    );
    problem(await call(base, 'GET', `/v1/locks/${k}`), 404, 'NOT_FOUND');

    const next = await call(base, 'POST', `/v1/locks/${k}`, { body: {} });
    expect(next.status).toBe(201);
    expect(next.body).toMatchObject({ fence: '2', ttlMs: 30_000, owner: null, mode: 'timeout' });
  });

  it('answers 410 for a well-formed token that never held the key, 400 for a malformed one', async () => {
    const k = key();
    await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '5s' } });
    const forged = `${randomUUID()}.1`;
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': forged } }),
      410,
      'LEASE_LOST',
    );
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': 'not-a-token' } }),
      400,
      'INVALID_ARGUMENT',
    );
    problem(await call(base, 'DELETE', `/v1/locks/${k}`, {}), 400, 'INVALID_ARGUMENT');
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': 'a b' } }),
      400,
      'INVALID_ARGUMENT',
    );
  });

  it('lets a timeout lock expire by its TTL', async () => {
    const k = key();
    const first = await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '50ms' } });
    expect(first.status).toBe(201);
    // Taken again once the TTL has run out, waiting on the server for it.
    const second = await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '1s', wait: '5s' } });
    expect(second.status).toBe(201);
    expect(Number(second.body.fence)).toBeGreaterThan(Number(first.body.fence));
    problem(
      await call(base, 'POST', `/v1/locks/${k}/renew`, { headers: { 'lease-token': first.body.token } }),
      410,
      'LEASE_LOST',
    );
  });
});

describe('server-side wait', () => {
  it('hands a waiting request the key when its holder releases it', async () => {
    const k = key();
    const holder = (await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s' } })).body;
    const waiting = call(base, 'POST', `/v1/locks/${k}`, {
      body: { ttl: '5s', wait: '20s', owner: 'waiter' },
    });
    await waitersOn(base, 1);
    const released = await call(base, 'DELETE', `/v1/locks/${k}`, {
      headers: { 'lease-token': holder.token },
    });
    expect(released.status).toBe(204);
    const granted = await waiting;
    expect(granted.status).toBe(201);
    expect(granted.body.owner).toBe('waiter');
    expect(Number(granted.body.fence)).toBeGreaterThan(Number(holder.fence));
    expect(granted.body.waitedMs).toBeGreaterThan(0);
    expect(granted.body.waitedMs).toBeLessThan(20_000);
  });

  it('ends the wait of a client that went away, and leaves nothing held for it', async () => {
    const k = key();
    const holder = (await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s' } })).body;
    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    const waiting = call(base, 'POST', `/v1/locks/${k}`, {
      body: { ttl: '30s', wait: '20s' },
      signal: controller.signal,
    });
    await waitersOn(base, 1);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // Released at once, racing the server's reading of the closed connection: the waiter is
    // either ended first (cancelled) or granted and given back (abandoned), never left holding.
    const released = await call(base, 'DELETE', `/v1/locks/${k}`, {
      headers: { 'lease-token': holder.token },
    });
    expect(released.status).toBe(204);
    // Another client gets the key within a short wait (a give-back may be in flight), long
    // before the 30 s TTL a stranded grant would keep it.
    const next = await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '5s', wait: '2s' } });
    expect(next.status).toBe(201);
    const [cancelled, abandoned] = await Promise.all([
      metricValue(base, 'leasekit_acquires_total{outcome="cancelled"}'),
      metricValue(base, 'leasekit_acquires_total{outcome="abandoned"}'),
    ]);
    expect(cancelled + abandoned).toBeGreaterThanOrEqual(1);
    expect(await metricValue(base, 'leasekit_acquires_waiting')).toBe(0);
  });

  it('answers 409 LOCK_HELD once the wait is over', async () => {
    const k = key();
    await call(base, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s', owner: 'a' } });
    const late = await call(base, 'POST', `/v1/locks/${k}`, { body: { wait: 100 } });
    const body = problem(late, 409, 'LOCK_HELD');
    expect(body.holder.owner).toBe('a');
    expect(Number(late.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('refuses a wait above 30 s', async () => {
    problem(
      await call(base, 'POST', `/v1/locks/${key()}`, { body: { wait: '31s' } }),
      400,
      'INVALID_ARGUMENT',
    );
  });
});

describe('Idempotency-Key', () => {
  it('gives a retried acquire the same lease back, and a different key a 409', async () => {
    const k = key();
    const headers = { 'idempotency-key': `req-${randomUUID()}` };
    const first = await call(base, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s' } });
    expect(first.status).toBe(201);
    const again = await call(base, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s' } });
    expect(again.status).toBe(201);
    expect(again.body.token).toBe(first.body.token);
    expect(again.body.fence).toBe(first.body.fence);
    // Also when the retry waits.
    const waited = await call(base, 'POST', `/v1/locks/${k}`, { headers, body: { ttl: '10s', wait: '2s' } });
    expect(waited.status).toBe(201);
    expect(waited.body.token).toBe(first.body.token);
    const other = await call(base, 'POST', `/v1/locks/${k}`, {
      headers: { 'idempotency-key': 'other' },
      body: {},
    });
    problem(other, 409, 'LOCK_HELD');
    const none = await call(base, 'POST', `/v1/locks/${k}`, { body: {} });
    problem(none, 409, 'LOCK_HELD');
    // The token released through the retry's answer releases the one holding.
    expect(
      (await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': again.body.token } })).status,
    ).toBe(204);
    problem(await call(base, 'GET', `/v1/locks/${k}`), 404, 'NOT_FOUND');
  });

  it('renews and releases by the Idempotency-Key instead of the lease token', async () => {
    const k = key();
    const idempotency = `req-${randomUUID()}`;
    const lease = await call(base, 'POST', `/v1/locks/${k}`, {
      headers: { 'idempotency-key': idempotency },
      body: { ttl: '10s' },
    });
    expect(lease.status).toBe(201);
    const renewed = await call(base, 'POST', `/v1/locks/${k}/renew`, {
      headers: { 'idempotency-key': idempotency, 'lease-fence': lease.body.fence },
      body: { ttl: '20s' },
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ key: k, fence: lease.body.fence, ttlMs: 20_000 });
    // Another key names no holding; neither does the same key in another tenant.
    problem(
      await call(base, 'POST', `/v1/locks/${k}/renew`, {
        headers: { 'idempotency-key': `other-${randomUUID()}` },
      }),
      410,
      'LEASE_LOST',
    );
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, {
        tenant: 'beta',
        headers: { 'idempotency-key': idempotency },
      }),
      410,
      'LEASE_LOST',
    );
    expect(
      (await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'idempotency-key': idempotency } })).status,
    ).toBe(204);
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'idempotency-key': idempotency } }),
      410,
      'LEASE_LOST',
    );
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.body.token } }),
      410,
      'LEASE_LOST',
    );
  });

  it('wants exactly one of Lease-Token and Idempotency-Key, and a Lease-Fence that is a fence', async () => {
    const k = key();
    const idempotency = `req-${randomUUID()}`;
    const lease = (
      await call(base, 'POST', `/v1/locks/${k}`, { headers: { 'idempotency-key': idempotency } })
    ).body;
    for (const headers of [
      {},
      { 'lease-token': lease.token, 'idempotency-key': idempotency },
      { 'idempotency-key': idempotency, 'lease-fence': '-1' },
      { 'idempotency-key': idempotency, 'lease-fence': '99999999999999999999' },
    ]) {
      const body = problem(
        await call(base, 'DELETE', `/v1/locks/${k}`, { headers }),
        400,
        'INVALID_ARGUMENT',
      );
      expect(body.detail).toMatch(/Lease-Token|Idempotency-Key|Lease-Fence|lease-fence/);
    }
    expect(
      (await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } })).status,
    ).toBe(204);
  });

  it('takes a short Idempotency-Key on acquire, but not as the credential of renew or release', async () => {
    const k = key();
    const short = 'order-42'; // fine for retries; guessable, so no credential
    const lease = await call(base, 'POST', `/v1/locks/${k}`, { headers: { 'idempotency-key': short } });
    expect(lease.status).toBe(201);
    const retry = await call(base, 'POST', `/v1/locks/${k}`, { headers: { 'idempotency-key': short } });
    expect(retry.body.token).toBe(lease.body.token);
    for (const [method, path] of [
      ['POST', `/v1/locks/${k}/renew`],
      ['DELETE', `/v1/locks/${k}`],
    ] as const) {
      const body = problem(
        await call(base, method, path, { headers: { 'idempotency-key': short } }),
        400,
        'INVALID_ARGUMENT',
      );
      expect(body.detail).toMatch(/Idempotency-Key must be at least 16 characters/);
    }
    // Still held: only the Lease-Token renews or releases it.
    expect(
      (await call(base, 'POST', `/v1/locks/${k}/renew`, { headers: { 'lease-token': lease.body.token } }))
        .status,
    ).toBe(200);
    expect(
      (await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.body.token } })).status,
    ).toBe(204);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const answer = await call(base, 'POST', `/v1/locks/${key()}`, {
      headers: { 'idempotency-key': 'a b/c' },
      body: {},
    });
    problem(answer, 400, 'INVALID_ARGUMENT');
  });
});

describe('tenants', () => {
  it('never lets tenant beta see, renew or release tenant alpha lock, and gives beta its own', async () => {
    const k = key();
    const alpha = (await call(base, 'POST', `/v1/locks/${k}`, { body: { owner: 'alpha-worker' } })).body;
    problem(await call(base, 'GET', `/v1/locks/${k}`, { tenant: 'beta' }), 404, 'NOT_FOUND');
    problem(
      await call(base, 'POST', `/v1/locks/${k}/renew`, {
        tenant: 'beta',
        headers: { 'lease-token': alpha.token },
      }),
      410,
      'LEASE_LOST',
    );
    problem(
      await call(base, 'DELETE', `/v1/locks/${k}`, {
        tenant: 'beta',
        headers: { 'lease-token': alpha.token },
      }),
      410,
      'LEASE_LOST',
    );
    const beta = await call(base, 'POST', `/v1/locks/${k}`, {
      tenant: 'beta',
      body: { owner: 'beta-worker' },
    });
    expect(beta.status).toBe(201);
    expect((await call(base, 'GET', `/v1/locks/${k}`)).body.owner).toBe('alpha-worker');
    expect((await call(base, 'GET', `/v1/locks/${k}`, { tenant: 'beta' })).body.owner).toBe('beta-worker');
  });
});

describe('bad input', () => {
  it('answers 401 with WWW-Authenticate, before looking at the body', async () => {
    for (const tenant of [null] as const) {
      const answer = await call(base, 'POST', `/v1/locks/${key()}`, {
        tenant,
        raw: '{bad',
        headers: { 'content-type': 'application/json' },
      });
      problem(answer, 401, 'UNAUTHORIZED');
      expect(answer.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    const wrong = await call(base, 'GET', `/v1/locks/${key()}`, {
      tenant: null,
      headers: { authorization: 'Bearer nope-nope-nope-nope' },
    });
    problem(wrong, 401, 'UNAUTHORIZED');
    problem(await call(base, 'GET', '/v1/capabilities', { tenant: null }), 401, 'UNAUTHORIZED');
  });

  it('answers 400 problems naming what is allowed', async () => {
    const cases: [string, string, object | undefined, RegExp][] = [
      ['POST', '/v1/locks/a%20b', {}, /pattern/],
      ['POST', `/v1/locks/${'k'.repeat(201)}`, {}, /pattern/],
      ['POST', `/v1/locks/${key()}`, { ttl: 0 }, /ttl must be/],
      ['POST', `/v1/locks/${key()}`, { ttl: 'soon' }, /ttl/],
      ['POST', `/v1/locks/${key()}`, { ttl: -5 }, /ttl/],
      ['POST', `/v1/locks/${key()}`, { mode: 'forever' }, /mode/],
      ['POST', `/v1/locks/${key()}`, { owner: 'o'.repeat(201) }, /owner/],
      ['POST', `/v1/locks/${key()}`, { surprise: 1 }, /additional/],
      ['POST', `/v1/locks/${key()}`, { metadata: { a: 1 } }, /metadata/],
      [
        'POST',
        `/v1/locks/${key()}`,
        { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
        /metadata/,
      ],
      ['POST', `/v1/locks/${key()}`, { metadata: { a: 'x'.repeat(1000), b: 'y'.repeat(100) } }, /1 KiB/],
    ];
    for (const [method, path, body, detail] of cases) {
      const answer = await call(base, method, path, { body });
      expect(problem(answer, 400, 'INVALID_ARGUMENT').detail, path).toMatch(detail);
    }
    problem(
      await call(base, 'POST', `/v1/locks/${key()}`, {
        raw: '[1,2]',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'INVALID_ARGUMENT',
    );
    problem(
      await call(base, 'POST', `/v1/locks/${key()}`, {
        raw: '{"ttl":',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'INVALID_ARGUMENT',
    );
    problem(
      await call(base, 'POST', `/v1/locks/${key()}`, {
        raw: '{"__proto__":{"x":1}}',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'INVALID_ARGUMENT',
    );
  });

  it('answers 413 above 16 KiB and 415 for a body that is not JSON', async () => {
    const big = await call(base, 'POST', `/v1/locks/${key()}`, { body: { owner: 'o'.repeat(17_000) } });
    problem(big, 413, 'PAYLOAD_TOO_LARGE');
    const text = await call(base, 'POST', `/v1/locks/${key()}`, {
      raw: 'ttl=1s',
      headers: { 'content-type': 'text/plain' },
    });
    problem(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const form = await call(base, 'POST', `/v1/locks/${key()}`, {
      raw: 'ttl=1s',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    problem(form, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('echoes a well-formed x-request-id in the header and the problem body', async () => {
    const answer = await call(base, 'GET', '/nowhere', { headers: { 'x-request-id': 'trace-42.a' } });
    expect(answer.headers['x-request-id']).toBe('trace-42.a');
    expect(problem(answer, 404, 'NOT_FOUND').requestId).toBe('trace-42.a');
    const drawn = await call(base, 'GET', '/nowhere', { headers: { 'x-request-id': 'no spaces allowed' } });
    expect(drawn.headers['x-request-id']).not.toBe('no spaces allowed');
  });

  it('answers 404 problems for unknown routes and wrong methods', async () => {
    problem(await call(base, 'GET', '/nowhere'), 404, 'NOT_FOUND');
    problem(await call(base, 'PUT', `/v1/locks/${key()}`, { body: {} }), 404, 'NOT_FOUND');
    problem(await call(base, 'PATCH', '/v1/capabilities'), 404, 'NOT_FOUND');
    problem(await call(base, 'GET', `/v1/locks/${key()}/renew`), 404, 'NOT_FOUND');
  });
});

describe('operations', () => {
  it("reports the backend's maxRenewFraction when it has one", async () => {
    const memory = createMemoryBackend();
    const bounded = await startService(
      {},
      { backend: { ...memory, capabilities: { ...memory.capabilities, maxRenewFraction: 0.5 } } },
    );
    try {
      expect((await call(bounded.url, 'GET', '/v1/capabilities')).body.maxRenewFraction).toBe(0.5);
    } finally {
      await bounded.close();
    }
  });

  it('reports renewal: false for a backend that cannot renew', async () => {
    const { renew: _renew, ...timeoutOnly } = createMemoryBackend();
    const once = await startService({}, { backend: timeoutOnly });
    try {
      expect((await call(once.url, 'GET', '/v1/capabilities')).body.renewal).toBe(false);
      const k = key();
      const lease = await call(once.url, 'POST', `/v1/locks/${k}`, { body: {} });
      expect(lease.status).toBe(201);
      problem(
        await call(once.url, 'POST', `/v1/locks/${k}/renew`, {
          headers: { 'lease-token': lease.body.token },
        }),
        400,
        'UNSUPPORTED',
      );
    } finally {
      await once.close();
    }
  });

  it('serves capabilities, health and readiness', async () => {
    const caps = await call(base, 'GET', '/v1/capabilities');
    expect(caps.body).toEqual({
      backend: 'memory',
      fencing: true,
      minTtlMs: 1,
      maxTtlMs: 2 ** 31 - 1,
      ttlGranularityMs: 1,
      defaultTtlMs: 30_000,
      renewal: true,
      waiting: { serverSide: true, maxWaitMs: 30_000 },
      maxKeyLength: 200,
      idempotency: true,
    });
    expect((await call(base, 'GET', '/healthz', { tenant: null })).body).toEqual({ status: 'ok' });
    expect((await call(base, 'GET', '/readyz', { tenant: null })).body).toEqual({
      status: 'ready',
      backend: 'memory',
    });
  });

  it('counts requests, acquires, renewals and losses in /metrics', async () => {
    const k = key();
    const lease = (await call(base, 'POST', `/v1/locks/${k}`, { body: {} })).body;
    await call(base, 'POST', `/v1/locks/${k}`, { body: {} });
    await call(base, 'POST', `/v1/locks/${k}/renew`, { headers: { 'lease-token': lease.token } });
    await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } });
    await call(base, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } });
    const metrics = await call(base, 'GET', '/metrics', { tenant: null });
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    // No gauge of leases held: the service's locker does not track what it grants.
    expect(metrics.text).not.toMatch(/leasekit_leases_held/);
    for (const line of [
      /leasekit_http_requests_total\{method="POST",route="\/v1\/locks\/:key",status="201"\} \d+/,
      /leasekit_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",route="\/v1\/locks\/:key",status="409"\}/,
      /leasekit_acquires_total\{outcome="granted"\} \d+/,
      /leasekit_acquires_total\{outcome="contended"\} \d+/,
      /leasekit_renewals_total\{outcome="renewed"\} \d+/,
      /leasekit_leases_lost_total\{operation="release"\} \d+/,
      /leasekit_releases_total\{outcome="released"\} \d+/,
      /leasekit_releases_total\{outcome="lost"\} \d+/,
      /leasekit_acquire_wait_seconds/,
    ]) {
      expect(metrics.text).toMatch(line);
    }
  });

  it('serves OpenAPI 3.1 listing every route, and a docs page', async () => {
    const doc = (await call(base, 'GET', '/openapi.json', { tenant: null })).body;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/locks/{key}',
        '/v1/locks/{key}/renew',
        '/v1/capabilities',
        '/healthz',
        '/readyz',
        '/metrics',
        '/lock',
        '/unlock',
        '/refresh',
        '/ttl',
      ]),
    );
    const acquire = doc.paths['/v1/locks/{key}'].post;
    expect(Object.keys(acquire.responses)).toEqual(
      expect.arrayContaining(['201', '400', '401', '409', '413', '415', '503']),
    );
    expect(acquire.requestBody).toBeDefined();
    expect(doc.paths['/v1/locks/{key}'].delete.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['key', 'lease-token']),
    );
    const docs = await call(base, 'GET', '/docs', { tenant: null });
    expect(docs.status).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
    expect(docs.text).toMatch(/swagger/i);
  });
});

describe('insecure mode', () => {
  it('refuses to start without keys unless --insecure, then says so on /readyz', async () => {
    await expect(startService({ LEASEKIT_API_KEYS: '' })).rejects.toThrow(/LEASEKIT_API_KEYS.*--insecure/);
    const open = await startService({ LEASEKIT_API_KEYS: '' }, { argv: ['--insecure'] });
    try {
      expect((await call(open.url, 'GET', '/readyz', { tenant: null })).body).toEqual({
        status: 'ready',
        backend: 'memory',
        insecure: true,
      });
      const lease = await call(open.url, 'POST', `/v1/locks/${key()}`, { tenant: null, body: {} });
      expect(lease.status).toBe(201);
    } finally {
      await open.close();
    }
  });
});

describe('shutdown', () => {
  it('ends waits with 503, and leaves the leases clients hold in the store', async () => {
    const store = createMemoryStore();
    const first = await startService({}, { backend: createMemoryBackend({ store }) });
    const k = key();
    const lease = (await call(first.url, 'POST', `/v1/locks/${k}`, { body: { ttl: '30s' } })).body;
    const waiting = call(first.url, 'POST', `/v1/locks/${k}`, { body: { wait: '20s' } });
    await waitersOn(first.url, 1);
    await first.close();
    const cut = await waiting;
    expect(cut.status).toBe(503);
    expect(cut.headers['retry-after']).toBeDefined();
    const second = await startService({}, { backend: createMemoryBackend({ store }) });
    try {
      const seen = await call(second.url, 'GET', `/v1/locks/${k}`);
      expect(seen.status).toBe(200);
      expect(seen.body.fence).toBe(lease.fence);
      expect(
        (await call(second.url, 'DELETE', `/v1/locks/${k}`, { headers: { 'lease-token': lease.token } }))
          .status,
      ).toBe(204);
    } finally {
      await second.close();
    }
  });
});
