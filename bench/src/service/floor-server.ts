/**
 * The floor of the lock-service scenarios: the same two routes as apps/lock-service
 * (`POST /v1/locks/{key}` with `{ ttl, wait }`, `DELETE /v1/locks/{key}` with a `Lease-Token`
 * header) as plain `node:http` handlers over the same kind of locker and backend, with no
 * framework, schema validation, auth, tenants, metrics or logging. Run as its own process:
 * `node floor-server.js` with `PORT`, `LEASEKIT_BACKEND=memory|redis`, `LEASEKIT_REDIS_URLS`.
 *
 * `FLOOR_FRAMEWORK=fastify` serves the same handlers as bare Fastify 5 routes (no schema, hooks,
 * logger or plugins): what the framework alone costs over node:http, so the service's own share
 * of its gap to the floor can be told from Fastify's.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AnyBackend, createLocker, isLeaseError } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import { createRedisBackend } from '@leasekit/redis';
import Fastify from 'fastify';

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
    const body = JSON.parse((await readBody(request)) || 'null') as { ttl?: number; wait?: number } | null;
    const [status, answer] = await acquire(key, body);
    send(response, status, answer);
    return;
  }
  await readBody(request);
  const token = request.headers['lease-token'];
  const released = await locker.releaseHolding({ key, token: String(token) });
  send(response, released ? 204 : 410);
}

/** The acquire answer (201) or the error's status and code. */
async function acquire(
  key: string,
  body: { ttl?: number; wait?: number } | null,
): Promise<[number, unknown]> {
  try {
    const lease = await locker.acquire(key, { ttl: body?.ttl ?? 30_000, wait: body?.wait ?? 0 });
    return [
      201,
      {
        key,
        token: lease.token,
        fence: lease.fence === undefined ? null : String(lease.fence),
        expiresAt: Math.floor(lease.expiresAt),
      },
    ];
  } catch (error) {
    return [isLeaseError(error, 'ACQUIRE_TIMEOUT') ? 409 : 503, { code: (error as { code?: string }).code }];
  }
}

async function serveFastify(port: number): Promise<() => Promise<void>> {
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ status: 'ok' }));
  app.post<{ Params: { key: string }; Body: { ttl?: number; wait?: number } | null }>(
    '/v1/locks/:key',
    async (request, reply) => {
      const [status, body] = await acquire(request.params.key, request.body);
      return reply.code(status).send(body);
    },
  );
  app.delete<{ Params: { key: string } }>('/v1/locks/:key', async (request, reply) => {
    const token = String(request.headers['lease-token']);
    const released = await locker.releaseHolding({ key: request.params.key, token });
    return reply.code(released ? 204 : 410).send();
  });
  await app.listen({ port, host: '127.0.0.1' });
  process.stdout.write(`listening ${port}\n`);
  return () => app.close();
}

function serveNodeHttp(port: number): () => Promise<void> {
  const server = createServer((request, response) => {
    handle(request, response).catch(() => send(response, 500));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

const port = Number(process.env.PORT ?? 0);
const close = process.env.FLOOR_FRAMEWORK === 'fastify' ? await serveFastify(port) : serveNodeHttp(port);
const stop = () => void close().finally(() => void locker.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
