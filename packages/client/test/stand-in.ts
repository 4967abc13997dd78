// TEMPORARY test-only stand-in of apps/lock-service (API.md), to develop the SDK against until
// the real service's buildServer exists. To be deleted: the final tests run the real service.
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AnyBackend, createLocker, isLeaseError, type LeaseError } from '@leasekit/core';

export interface StandIn {
  readonly url: string;
  close(): Promise<void>;
}

export async function startStandIn(
  backend: AnyBackend,
  apiKeys: Record<string, string> = {},
): Promise<StandIn> {
  const locker = createLocker(backend, { ttl: 30_000, wait: 0 });
  const secret = randomUUID();
  const send = (res: ServerResponse, status: number, body?: unknown, type = 'application/json') => {
    res.statusCode = status;
    if (body === undefined) return res.end();
    res.setHeader('content-type', type);
    res.end(JSON.stringify(body));
  };
  const problem = (res: ServerResponse, status: number, code: string, detail: string, extra = {}) =>
    send(res, status, { type: 'x', title: code, status, code, detail, ...extra }, 'application/problem+json');
  const fail = (res: ServerResponse, error: unknown) => {
    const e = error as LeaseError;
    if (isLeaseError(error, 'INVALID_ARGUMENT')) return problem(res, 400, e.code, e.message);
    if (isLeaseError(error, 'LEASE_LOST')) return problem(res, 410, e.code, e.message);
    res.setHeader('retry-after', '1');
    return problem(res, 503, 'BACKEND_UNAVAILABLE', String((error as Error).message));
  };
  const readBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let tenant = 'public';
    if (Object.keys(apiKeys).length > 0) {
      const auth = req.headers.authorization ?? '';
      const found = Object.entries(apiKeys).find(([, key]) => auth === `Bearer ${key}`);
      if (!found) return problem(res, 401, 'UNAUTHORIZED', 'missing or unknown API key');
      tenant = found[0];
    }
    if (url.pathname === '/v1/capabilities') {
      const caps = backend.capabilities;
      return send(res, 200, {
        backend: backend.name,
        fencing: caps.fencing,
        minTtlMs: Math.max(caps.minTtlMs, 10),
        maxTtlMs: Math.min(caps.maxTtlMs, 86_400_000),
        ttlGranularityMs: 1,
        defaultTtlMs: 30_000,
        renewal: true,
        waiting: { serverSide: true, maxWaitMs: 30_000 },
        maxKeyLength: 200,
        idempotency: true,
      });
    }
    const match = /^\/v1\/locks\/([^/]+)(\/renew)?$/.exec(url.pathname);
    if (!match) return problem(res, 404, 'NOT_FOUND', 'no route');
    const key = decodeURIComponent(match[1]!);
    const storeKey = `${tenant}/${key}`;
    const leaseToken = String(req.headers['lease-token'] ?? '');
    const [storeToken, fenceText] = leaseToken.split('.');
    const ref = { key: storeKey, token: storeToken ?? '', fence: fenceText ? Number(fenceText) : undefined };
    try {
      if (req.method === 'POST' && !match[2]) {
        const body = await readBody(req);
        const idem = req.headers['idempotency-key'];
        const token =
          typeof idem === 'string'
            ? createHmac('sha256', secret).update(`${storeKey}\n${idem}`).digest('hex').slice(0, 32)
            : randomUUID();
        const gone = new AbortController();
        res.on('close', () => gone.abort(new Error('client gone')));
        const started = performance.now();
        const wait = Number(body.wait ?? 0);
        try {
          const lease = await locker.acquire(storeKey, {
            ttl: Number(body.ttl ?? 30_000),
            wait,
            token,
            signal: gone.signal,
            ...(typeof body.owner === 'string' ? { owner: body.owner } : {}),
          });
          const now = Date.now();
          return send(res, 201, {
            key,
            token: `${lease.token}.${lease.fence}`,
            fence: String(lease.fence),
            ttlMs: Number(body.ttl ?? 30_000),
            expiresAt: lease.expiresAt,
            serverTime: now,
            waitedMs: Math.round(performance.now() - started),
            owner: body.owner ?? null,
            mode: 'timeout',
          });
        } catch (error) {
          if (isLeaseError(error, 'ACQUIRE_TIMEOUT')) {
            res.setHeader('retry-after', '1');
            return problem(res, 409, 'LOCK_HELD', 'held', {
              holder: { owner: null, expiresAt: Date.now() + 1000 },
            });
          }
          if (gone.signal.aborted) return;
          throw error;
        }
      }
      if (req.method === 'POST' && match[2]) {
        const body = await readBody(req);
        const renewed = await locker.renewHolding(ref, { ttl: Number(body.ttl ?? 30_000) });
        return send(res, 200, {
          key,
          fence: renewed.fence === undefined ? null : String(renewed.fence),
          ttlMs: renewed.ttlMs,
          expiresAt: renewed.expiresAt,
          serverTime: Date.now(),
        });
      }
      if (req.method === 'DELETE') {
        const released = await locker.releaseHolding(ref);
        return released ? send(res, 204) : problem(res, 410, 'LEASE_LOST', 'not held');
      }
      if (req.method === 'GET') {
        const info = await locker.inspect(storeKey);
        if (!info?.held) return problem(res, 404, 'NOT_FOUND', 'free');
        return send(res, 200, {
          key,
          held: true,
          owner: info.owner ?? null,
          fence: info.fence === undefined ? null : String(info.fence),
          expiresAt: Date.now() + (info.ttlRemainingMs ?? 0),
          ttlRemainingMs: info.ttlRemainingMs ?? 0,
          mode: 'timeout',
          metadata: {},
        });
      }
      return problem(res, 404, 'NOT_FOUND', 'no route');
    } catch (error) {
      return fail(res, error);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => fail(res, error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await locker.close();
    },
  };
}
