import { randomUUID } from 'node:crypto';
import { createMemoryBackend } from '@leasekit/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeedParameterError } from '../src/routes/seed.js';
import { call, type Service, startService } from './helpers.js';

// The seed's Go service, route by route (../shared/seeds/lock-manager-service-api.md): query
// parameters, Go durations, and the same status codes and body fields for each outcome.

let service: Service;
let base: string;
const resource = () => `item-${randomUUID()}`;
const q = (params: Record<string, string>) => `?${new URLSearchParams(params)}`;

beforeAll(async () => {
  service = await startService();
  base = service.url;
});
afterAll(() => service.close());

function keys(body: object): string[] {
  return Object.keys(body).sort();
}

describe('seed routes', () => {
  it('POST /lock: 200 {code, token, resource, ttl, acquired}, 409 {code, resource, acquired, message}, 400 {error}', async () => {
    const r = resource();
    const ok = await call(base, 'POST', `/lock${q({ resource: r, ttl: '1m30s' })}`);
    expect(ok.status).toBe(200);
    expect(keys(ok.body)).toEqual(['acquired', 'code', 'resource', 'token', 'ttl']);
    expect(ok.body).toMatchObject({ code: 200, resource: r, ttl: '1m30s', acquired: true });
    const held = await call(base, 'POST', `/lock${q({ resource: r, ttl: '10s' })}`);
    expect(held.status).toBe(409);
    expect(keys(held.body)).toEqual(['acquired', 'code', 'message', 'resource']);
    expect(held.body).toMatchObject({ code: 409, resource: r, acquired: false });
    for (const bad of [
      {},
      { resource: r, ttl: 'ten seconds' },
      { resource: r, ttl: '-1s' },
      { resource: 'a b' },
    ]) {
      const answer = await call(base, 'POST', `/lock${q(bad as Record<string, string>)}`);
      expect(answer.status).toBe(400);
      expect(keys(answer.body)).toEqual(['error']);
    }
  });

  it('POST /lock without ttl holds for 10 s (the seed: 10 ms)', async () => {
    const r = resource();
    const ok = await call(base, 'POST', `/lock${q({ resource: r })}`);
    expect(ok.body.ttl).toBe('10s');
    const seen = await call(base, 'GET', `/ttl${q({ resource: r, token: ok.body.token })}`);
    expect(seen.status).toBe(200);
  });

  it('POST /unlock: 200 {code, token, resource}, 404 {code, resource, token, message}', async () => {
    const r = resource();
    const { token } = (await call(base, 'POST', `/lock${q({ resource: r, ttl: '10s' })}`)).body;
    const wrong = await call(base, 'POST', `/unlock${q({ resource: r, token: 'someone-else' })}`);
    expect(wrong.status).toBe(404);
    expect(keys(wrong.body)).toEqual(['code', 'message', 'resource', 'token']);
    expect(wrong.body).toEqual({
      code: 404,
      resource: r,
      token: 'someone-else',
      message: 'lock not found or expired',
    });
    const ok = await call(base, 'POST', `/unlock${q({ resource: r, token })}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ code: 200, token, resource: r });
    const again = await call(base, 'POST', `/unlock${q({ resource: r, token })}`);
    expect(again.status).toBe(404);
    const missing = await call(base, 'POST', `/unlock${q({ resource: r })}`);
    expect(missing.status).toBe(400);
    expect(keys(missing.body)).toEqual(['error']);
  });

  it('POST /refresh: 200 {code, token, resource, ttl, refreshed}, 404 {code, resource, token, ttl, refreshed, message}', async () => {
    const r = resource();
    const { token } = (await call(base, 'POST', `/lock${q({ resource: r, ttl: '2s' })}`)).body;
    const ok = await call(base, 'POST', `/refresh${q({ resource: r, token, ttl: '30s' })}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ code: 200, token, resource: r, ttl: '30s', refreshed: true });
    const byDefault = await call(base, 'POST', `/refresh${q({ resource: r, token })}`);
    expect(byDefault.body.ttl).toBe('10s');
    const wrong = await call(base, 'POST', `/refresh${q({ resource: r, token: `${randomUUID()}.1` })}`);
    expect(wrong.status).toBe(404);
    expect(keys(wrong.body)).toEqual(['code', 'message', 'refreshed', 'resource', 'token', 'ttl']);
    expect(wrong.body).toMatchObject({ code: 404, refreshed: false, ttl: '10s' });
    const bad = await call(base, 'POST', `/refresh${q({ resource: r, token, ttl: 'forever' })}`);
    expect(bad.status).toBe(400);
    expect(keys(bad.body)).toEqual(['error']);
  });

  it('GET /ttl: 200 {code, resource, token, ttl}, 404 {code, resource, token, ttl: "0s", message}', async () => {
    const r = resource();
    const { token } = (await call(base, 'POST', `/lock${q({ resource: r, ttl: '20s' })}`)).body;
    const ok = await call(base, 'GET', `/ttl${q({ resource: r, token })}`);
    expect(ok.status).toBe(200);
    expect(keys(ok.body)).toEqual(['code', 'resource', 'token', 'ttl']);
    expect(ok.body.ttl).toMatch(/^(1\d|20)(\.\d+)?s$|^\d+(\.\d+)?s$/);
    const wrong = await call(base, 'GET', `/ttl${q({ resource: r, token: `${randomUUID()}.1` })}`);
    expect(wrong.status).toBe(404);
    expect(keys(wrong.body)).toEqual(['code', 'message', 'resource', 'token', 'ttl']);
    expect(wrong.body.ttl).toBe('0s');
    expect((await call(base, 'GET', `/ttl${q({ token })}`)).status).toBe(400);
  });

  it('GET /ttl over a backend that does not tell the holder token (Azure): 200 only for the holder fence', async () => {
    // The memory store seen through an inspect that, as Azure's, gives no holder token.
    const memory = createMemoryBackend();
    const inspect = memory.inspect!.bind(memory);
    const tokenless = await startService(
      {},
      {
        backend: {
          ...memory,
          inspect: async (key: string) => {
            const info = await inspect(key);
            if (info === null) return null;
            const { token: _hidden, ...rest } = info;
            return rest;
          },
        },
      },
    );
    try {
      const r = resource();
      const first = (await call(tokenless.url, 'POST', `/lock${q({ resource: r, ttl: '20s' })}`)).body.token;
      expect((await call(tokenless.url, 'POST', `/unlock${q({ resource: r, token: first })}`)).status).toBe(
        200,
      );
      const { token } = (await call(tokenless.url, 'POST', `/lock${q({ resource: r, ttl: '20s' })}`)).body;
      expect((await call(tokenless.url, 'GET', `/ttl${q({ resource: r, token })}`)).status).toBe(200);
      // The earlier holder's token (a smaller fence) and a token without a fence are not the holder's.
      for (const stale of [first, `${randomUUID()}.n`]) {
        const answer = await call(tokenless.url, 'GET', `/ttl${q({ resource: r, token: stale })}`);
        expect(answer.status, stale).toBe(404);
        expect(answer.body.ttl).toBe('0s');
      }
    } finally {
      await tokenless.close();
    }
  });

  it('a bad parameter is a typed error with a code, answered {error} as the seed did', async () => {
    const error = new SeedParameterError('invalid ttl "x"');
    expect(error).toMatchObject({ name: 'SeedParameterError', code: 'INVALID_ARGUMENT', status: 400 });
    const answer = await call(base, 'POST', `/lock${q({ resource: resource(), ttl: 'soon' })}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: expect.stringMatching(/^invalid ttl "soon": a Go duration/) });
  });

  it('shares locks with the v1 routes (same tenant namespace)', async () => {
    const r = resource();
    const { token } = (await call(base, 'POST', `/lock${q({ resource: r, ttl: '10s' })}`)).body;
    expect((await call(base, 'POST', `/v1/locks/${r}`, { body: {} })).status).toBe(409);
    expect((await call(base, 'DELETE', `/v1/locks/${r}`, { headers: { 'lease-token': token } })).status).toBe(
      204,
    );
  });

  it('needs an API key like every lock route: 401 {error}', async () => {
    const answer = await call(base, 'POST', `/lock${q({ resource: resource() })}`, { tenant: null });
    expect(answer.status).toBe(401);
    expect(keys(answer.body)).toEqual(['error']);
  });

  it('can be switched off', async () => {
    const off = await startService({ LEASEKIT_SEED_ROUTES: 'off' });
    try {
      const answer = await call(off.url, 'POST', `/lock${q({ resource: resource() })}`);
      expect(answer.status).toBe(404);
      expect(answer.body.code).toBe('NOT_FOUND');
    } finally {
      await off.close();
    }
  });
});
