/**
 * The floor of the lock-service scenarios: the same two routes as apps/lock-service
 * (`POST /v1/locks/{key}` with `{ ttl, wait }`, `DELETE /v1/locks/{key}` with a `Lease-Token`
 * header) as plain `node:http` handlers over the same kind of locker and backend, with no
 * framework, schema validation, auth, tenants, metrics or logging. Run as its own process:
 * `node floor-server.js` with `PORT`, `LEASEKIT_BACKEND=memory|redis`, `LEASEKIT_REDIS_URLS`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AnyBackend, createLocker, isLeaseError } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import { createRedisBackend } from '@leasekit/redis';

function backendFromEnv(): AnyBackend {
  if (process.env.LEASEKIT_BACKEND === 'redis') {
    const urls = (process.env.LEASEKIT_REDIS_URLS ?? '').split(',').filter(Boolean);
    return createRedisBackend({ nodes: urls });
  }
  return createMemoryBackend();
}

const locker = createLocker(backendFromEnv(), { mode: 'timeout', sharedHoldings: true, tracing: false });

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    response.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method === 'GET') return send(response, 200, { status: 'ok' }); // readiness
  const key = decodeURIComponent((request.url ?? '').slice('/v1/locks/'.length));
  if (request.method === 'POST') {
    const { ttl, wait } = JSON.parse((await readBody(request)) || '{}') as { ttl?: number; wait?: number };
    try {
      const lease = await locker.acquire(key, { ttl: ttl ?? 30_000, wait: wait ?? 0 });
      send(response, 201, {
        key,
        token: lease.token,
        fence: lease.fence === undefined ? null : String(lease.fence),
        expiresAt: Math.floor(lease.expiresAt),
      });
    } catch (error) {
      send(response, isLeaseError(error, 'ACQUIRE_TIMEOUT') ? 409 : 503, {
        code: (error as { code?: string }).code,
      });
    }
    return;
  }
  await readBody(request);
  const token = request.headers['lease-token'];
  const released = await locker.releaseHolding({ key, token: String(token) });
  send(response, released ? 204 : 410);
}

const server = createServer((request, response) => {
  handle(request, response).catch(() => send(response, 500));
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
const stop = () => server.close(() => void locker.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
