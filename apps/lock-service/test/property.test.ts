import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, call, KEYS, type Service, startService } from './helpers.js';

// Random requests over real HTTP (undici, keep-alive pool, in parallel batches): whatever the
// method, path, headers and body, the service answers a 2xx or a 4xx, never a 5xx; every 4xx
// of the v1 API and of unknown routes is problem+json with the status repeated, every 4xx of a
// seed route is the seed's JSON; and a request that was refused leaves nothing locked.

const RUNS = 100;
const BATCH = 100; // RUNS × BATCH = 10,000 requests

let service: Service;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 40,
});
/** A few valid keys (so requests meet each other's locks), and anything else. */
const validKey = fc.constantFrom('a', 'b', 'orders:42', 'x.y_z~1-2', 'k'.repeat(200));
const anyKey = fc.oneof(
  validKey,
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.constantFrom(
    '',
    'a%2Fb',
    'k'.repeat(201),
    'k'.repeat(2000),
    '%E2%82%AC',
    '..',
    'a b'.replace(' ', '%20'),
  ),
);
const duration = fc.oneof(
  fc.constantFrom(
    1,
    50,
    1000,
    '1s',
    '250ms',
    '2m',
    0,
    -1,
    0.5,
    2 ** 40,
    '',
    'soon',
    '1d',
    '-1s',
    null,
    true,
    [],
    {},
  ),
  printable,
);
// Waits that are valid stay short, so a batch never stalls on a held key.
const wait = fc.oneof(fc.constantFrom(0, 5, '10ms', 30_001, '31s', -1, 'x', null, 1.5, '1h'), printable);
const lockBody = fc.record(
  {
    ttl: duration,
    wait,
    mode: fc.oneof(fc.constantFrom('timeout', 'lease', 'forever', ''), fc.anything()),
    owner: fc.oneof(printable, fc.string({ minLength: 190, maxLength: 260 }), fc.integer()),
    metadata: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 80 }), { maxKeys: 20 }),
      fc.anything(),
    ),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  { weight: 4, arbitrary: lockBody.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.anything().map((value) => JSON.stringify(value) ?? 'null') },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{',
      '[1,2',
      '{"ttl":1',
      '{"__proto__":{"a":1}}',
      '{"constructor":{"prototype":{}}}',
      '',
    ),
  },
  { weight: 1, arbitrary: fc.constant(JSON.stringify({ owner: 'o'.repeat(17_000) })) },
);
const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/jsonx',
  'multipart/form-data; boundary=x',
);
const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant(`Bearer ${KEYS.alpha}`) },
  { weight: 1, arbitrary: fc.constant(`Bearer ${KEYS.beta}`) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: printable.map((text) => `Bearer ${text}`) },
  { weight: 1, arbitrary: printable },
);
const leaseToken = fc.oneof(
  fc.constant(undefined),
  printable,
  fc.uuid().map((uuid) => `${uuid}.1`),
  fc.constantFrom('00000000-0000-4000-8000-000000000000.n', 'a.b', '.'),
);
const seedQuery = fc
  .record(
    {
      resource: fc.oneof(validKey, printable),
      ttl: fc.oneof(fc.constantFrom('10s', '50ms', '1m30s', '0', '-1s', '1d'), printable),
      token: fc.oneof(
        printable,
        fc.uuid().map((u) => `${u}.3`),
      ),
    },
    { requiredKeys: [] },
  )
  .map((query) => `?${new URLSearchParams(query as Record<string, string>)}`);

interface Generated {
  method: string;
  path: string;
  key: string | undefined;
  seed: boolean;
  headers: Record<string, string>;
  body: string | undefined;
}

const request: fc.Arbitrary<Generated> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
    route: fc.oneof(
      anyKey.map((key) => ({ path: `/v1/locks/${key}`, key, seed: false })),
      anyKey.map((key) => ({ path: `/v1/locks/${key}/renew`, key, seed: false })),
      fc
        .constantFrom('/v1/capabilities', '/v1/locks', '/v1/locks/', '/v2/locks/a', '/', '/lock/x')
        .map((path) => ({
          path,
          key: undefined,
          seed: false,
        })),
      fc.tuple(fc.constantFrom('/lock', '/unlock', '/refresh', '/ttl'), seedQuery).map(([route, query]) => ({
        path: `${route}${query}`,
        key: undefined,
        seed: true,
      })),
      printable.map((text) => ({ path: `/${encodeURIComponent(text)}`, key: undefined, seed: false })),
    ),
    authorization,
    leaseToken,
    idempotencyKey: fc.option(printable, { nil: undefined }),
    contentType,
    body: fc.option(body, { nil: undefined }),
  })
  .map(
    ({
      method,
      route,
      authorization: auth,
      leaseToken: token,
      idempotencyKey,
      contentType: type,
      body: raw,
    }) => {
      const headers: Record<string, string> = {};
      if (auth !== undefined) headers.authorization = auth;
      if (token !== undefined) headers['lease-token'] = token;
      if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
      if (type !== undefined) headers['content-type'] = type;
      const withBody = raw !== undefined && method !== 'GET' && method !== 'HEAD';
      // A seed route answers in the seed's shape only when the method is its own.
      const seedMethod = route.path.startsWith('/ttl')
        ? method === 'GET' || method === 'HEAD'
        : method === 'POST';
      const seed = route.seed && seedMethod;
      return { method, path: route.path, key: route.key, seed, headers, body: withBody ? raw : undefined };
    },
  );

/** Acquires that are always refused (a defect in the body, its type or its size): must lock nothing. */
const poisoned: fc.Arbitrary<Generated> = fc
  .record({
    key: fc.constantFrom('poison-1', 'poison-2', 'poison-3'),
    defect: fc.constantFrom(
      { type: 'application/json', body: '{"ttl":"1s",' },
      { type: 'application/json', body: '{"ttl":"1s","surprise":true}' },
      { type: 'application/json', body: '{"ttl":0}' },
      { type: 'application/json', body: '{"wait":"31s"}' },
      { type: 'application/json', body: JSON.stringify({ ttl: '1s', owner: 'o'.repeat(17_000) }) },
      { type: 'text/plain', body: '{"ttl":"1s"}' },
      { type: 'application/json', body: '{"metadata":{"a":1}}' },
    ),
    authorization,
  })
  .map(({ key, defect, authorization: auth }) => ({
    method: 'POST',
    path: `/v1/locks/${key}`,
    key,
    seed: false,
    headers: { 'content-type': defect.type, ...(auth === undefined ? {} : { authorization: auth }) },
    body: defect.body,
  }));

describe('random requests', () => {
  it(`answer 2xx or a well-formed 4xx, never a 5xx, over ${RUNS * BATCH} requests`, {
    timeout: 120_000,
  }, async () => {
    const touched = new Set<string>();
    const granted = new Set<string>();
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 9, arbitrary: request }, { weight: 1, arbitrary: poisoned }), {
          minLength: BATCH,
          maxLength: BATCH,
        }),
        async (batch) => {
          const answers = await Promise.all(
            batch.map(async (generated) => {
              const headers = { ...generated.headers };
              const answer = await call(service.url, generated.method, generated.path, {
                tenant: null,
                headers,
                ...(generated.body === undefined ? {} : { raw: generated.body }),
              });
              return { generated, answer };
            }),
          );
          sent += answers.length;
          for (const { generated, answer } of answers) {
            const where = `${generated.method} ${generated.path} ${JSON.stringify(generated.headers)} ${generated.body?.slice(0, 200)} → ${answer.status} ${answer.text.slice(0, 300)}`;
            expect(answer.status, where).toBeLessThan(500);
            expect(answer.status, where).toBeGreaterThanOrEqual(200);
            if (generated.key !== undefined) touched.add(generated.key);
            if (answer.status < 300) {
              if (generated.key !== undefined && answer.status === 201) granted.add(generated.key);
              // The seed's POST /lock takes `resource` in the same namespace.
              if (generated.seed && generated.path.startsWith('/lock?')) {
                granted.add(new URLSearchParams(generated.path.slice('/lock?'.length)).get('resource') ?? '');
              }
              continue;
            }
            const type = String(answer.headers['content-type']);
            if (generated.seed) {
              expect(type, where).toMatch(/^application\/json/);
              if (generated.method !== 'HEAD') expect(answer.body, where).toBeTypeOf('object');
              continue;
            }
            expect(type, where).toMatch(/^application\/problem\+json/);
            if (generated.method === 'HEAD') continue;
            expect(answer.body?.status, where).toBe(answer.status);
            expect(answer.body?.code, where).toMatch(/^[A-Z_]+$/);
            expect(answer.text, where).not.toMatch(/\bat .*\.(ts|js):\d+/); // never a stack trace
          }
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(touched.has('poison-1')).toBe(true);
    expect([...granted].filter((key) => key.startsWith('poison-'))).toEqual([]);
    // Nothing left locked by a refused request: a key no request acquired is free, for both tenants.
    for (const key of touched) {
      // (`.` and `..` are dot-segments: never a key on the wire.)
      if (granted.has(key) || !/^[A-Za-z0-9._:~-]{1,200}$/.test(key) || /^\.+$/.test(key)) continue;
      for (const tenant of ['alpha', 'beta'] as const) {
        const seen = await call(service.url, 'GET', `/v1/locks/${key}`, { tenant });
        expect(seen.status, `${tenant} ${key}`).toBe(404);
      }
    }
  });
});

afterAll(async () => {
  await agent.close();
});
