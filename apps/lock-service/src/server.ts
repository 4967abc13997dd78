import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type AnyBackend, createLocker } from '@leasekit/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { Authenticator } from './auth.js';
import { createBackend } from './backend.js';
import type { ServiceConfig } from './config.js';
import { LockService } from './lock-service.js';
import { ServiceMetrics } from './metrics.js';
import { ProblemError, problemSchema, sendProblem, toProblem } from './problem.js';
import { locksRoutes } from './routes/locks.js';
import { opsRoutes } from './routes/ops.js';
import { seedRoutes } from './routes/seed.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's tenant, set by the auth hook of the lock routes. */
    tenant: string;
  }
  interface FastifyContextConfig {
    /** A seed route: errors answer `{ error }` as the seed's service did. */
    seed?: boolean;
  }
}

/** Largest request body (413 above it). */
export const BODY_LIMIT: number = 16 * 1024;

export interface ServerDeps {
  /**
   * A backend built by the caller (tests share one memory store or Redis nodes between servers).
   * The server still closes it on `close()`.
   */
  readonly backend?: AnyBackend;
  /** Where pino writes (default stdout). */
  readonly logStream?: { write(line: string): void };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The seed's routes put the lease token in the query string: keep it out of the logs. */
function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]*/g, '$1[redacted]');
}

/**
 * Builds the service (routes, schemas, auth, metrics, docs) over one `Locker`, without
 * listening: tests call `listen({ port: 0 })` or `inject`. `close()` stops accepting, ends
 * server-side waits with a 503, lets in-flight requests finish and closes the backend, leaving
 * every lease clients hold in the store (they are renewed or released through another instance).
 */
export async function buildServer(config: ServiceConfig, deps: ServerDeps = {}): Promise<FastifyInstance> {
  const backend = deps.backend ?? (await createBackend(config.backend));
  const logger = {
    level: config.logLevel,
    // Every line says so while the service runs without authentication.
    base: { pid: process.pid, hostname: hostname(), ...(config.insecure ? { insecure: true } : {}) },
    serializers: {
      req: (request: { method: string; url: string; ip?: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip ?? 'unknown',
      }),
    },
    ...(deps.logStream ? { stream: deps.logStream } : {}),
  };
  const app = Fastify({
    logger,
    bodyLimit: BODY_LIMIT,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    // Long enough for any key the schema would refuse with a message; longer ones meet frameworkErrors.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors: (error, request, reply) => {
      const detail =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'key must be 1-200 of A-Z a-z 0-9 . _ : ~ -'
          : 'malformed URL';
      return sendProblem(reply, request, new ProblemError(400, 'INVALID_ARGUMENT', detail));
    },
    forceCloseConnections: 'idle',
    // Bodies are validated as sent: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    clientErrorHandler: (error, socket) => {
      // A request Node's parser refused (bad method, malformed head): a bare problem, then close.
      if (!socket.writable) return socket.destroy(error);
      const body = JSON.stringify({
        type: 'https://leasekit.dev/problems/invalid-argument',
        title: 'Invalid argument',
        status: 400,
        code: 'INVALID_ARGUMENT',
        detail: 'malformed HTTP request',
      });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  app.decorateRequest('tenant', '');

  const metrics = new ServiceMetrics();
  // One locker per process; timeout mode (the service never renews on its own); shared
  // holdings: any instance renews or releases any lease, so a waiter here must not count on a
  // key this locker granted staying held (it keeps asking the store and listening for the
  // release), and local hand-overs are off (one would pass the holder's store token, the
  // client's credential, on to the next holder).
  const locker = createLocker(backend, {
    mode: 'timeout',
    sharedHoldings: true,
    closeBackend: false, // closed by onClose below, without releasing the clients' leases
  });
  const service = new LockService(locker, backend, config.tokenSecret, metrics);
  const authenticator = new Authenticator(config.apiKeys, config.insecure);
  const shutdown = new AbortController();
  // Every acquire waiting on the server listens to it (see `eitherSignal`): no leak warning at 11.
  setMaxListeners(0, shutdown.signal);

  if (config.insecure)
    app.log.warn(
      'no API keys: serving without authentication (--insecure); every request is tenant "public"',
    );
  if (config.tokenSecretGenerated) {
    app.log.info(
      'LEASEKIT_TOKEN_SECRET unset: a random one for this process (memory backend); Idempotency-Key retries and renewals hold within this process only',
    );
  }

  // JSON bodies, where an empty one is no body (a renew may send none).
  // Nothing else is parsed: any other media type is a 415.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: BODY_LIMIT },
    (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text === '') return done(null, null);
      return parseJson(request, text, done);
    },
  );
  // Hooks on every request take `done` rather than returning a promise: one promise and one
  // microtask less per hook, on the path every request takes (see bench/README.md, lock service).
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined) request.body = null;
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.request(request.method, route, reply.statusCode, reply.elapsedTime / 1_000);
    done();
  });
  app.addHook('preClose', async () => {
    shutdown.abort(new ProblemError(503, 'SHUTTING_DOWN', 'the service is shutting down'));
  });
  app.addHook('onClose', async () => {
    // Not `locker.close()`: it would release every lease this instance granted, and those belong
    // to clients who may renew them through another instance. The backend alone is closed; a
    // timeout lease left behind lives on in the store until its TTL.
    await backend.close();
  });

  app.setErrorHandler((error, request, reply) => {
    const { problem, internal } = toProblem(error);
    if (internal) request.log.error({ err: error }, 'request failed');
    else if (problem.status >= 500) request.log.warn({ err: error }, problem.message);
    if (request.routeOptions.config.seed) {
      for (const [name, value] of Object.entries(problem.headers)) void reply.header(name, value);
      return reply
        .code(problem.status)
        .type('application/json')
        .send(JSON.stringify({ error: problem.message }));
    }
    return sendProblem(reply, request, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      request,
      new ProblemError(
        404,
        'NOT_FOUND',
        `no route ${request.method} ${redactUrl(request.url.split('?')[0] ?? '')}`,
      ),
    ),
  );

  app.addSchema(problemSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'leasekit lock service',
        version: '1',
        description: 'Distributed locks and leases over HTTP. See API.md for the contract.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) =>
        typeof json.$id === 'string' ? json.$id : `def-${index}`,
    },
  });
  // Served from the package's own assets, and no call-out to swagger.io's validator: works offline.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { validatorUrl: null } });

  await app.register(opsRoutes, {
    service,
    metrics,
    insecure: config.insecure,
    openapi: () => app.swagger(),
  });
  await app.register(locksRoutes, {
    service,
    authenticate: authenticator.authenticate,
    shutdown: shutdown.signal,
  });
  if (config.seedRoutes)
    await app.register(seedRoutes, { service, authenticate: authenticator.authenticate });
  return app;
}
