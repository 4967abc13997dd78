/**
 * `buildServer(config)`: the order service as a Fastify instance, not listening (tests call
 * `inject` or listen on port 0). The tables are created when the instance gets ready.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import type { OrderServiceConfig } from './config.js';
import { createInventory, SEED_ITEMS } from './inventory.js';
import type { ItemLocks } from './item-locks.js';
import { lockServiceItemLocks } from './lock-service-locks.js';
import { createOrderMetrics } from './metrics.js';
import { sendProblem } from './problem.js';
import type { RouteContext } from './routes/context.js';
import { operationRoutes } from './routes/operations.js';
import { orderRoutes } from './routes/orders.js';
import { stockRoutes } from './routes/stock.js';

export interface BuildServerOptions {
  /** The item locks to use instead of the lock service at `config.lockServiceUrl`. */
  readonly locks?: ItemLocks;
}

export function buildServer(config: OrderServiceConfig, options: BuildServerOptions = {}): FastifyInstance {
  if (config.databaseUrl === undefined) {
    throw new TypeError(
      'buildServer needs config.databaseUrl (main starts an embedded database when it is unset)',
    );
  }
  const app = Fastify({
    logger: { level: config.logLevel },
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: 64 * 1024,
    // Unknown fields are refused with a 400 naming them, not silently dropped; and a value of the
    // wrong type is refused, not coerced (Fastify's default would sell `"quantity": true` as 1
    // and take `"item_name": ["item1"]` for item1), as the lock service does.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.databasePoolMax });
  // An idle client that fails (the server restarted) must not crash the process: the pool
  // drops it and the next query opens another connection.
  pool.on('error', (error) => app.log.warn({ err: error }, 'idle database connection failed'));
  const inventory = createInventory(pool);
  const locks = options.locks ?? lockServiceItemLocks(config);
  const context: RouteContext = { config, inventory, locks, metrics: createOrderMetrics() };

  app.addHook('onReady', async () => {
    await inventory.migrate();
    if (config.seedItems) await inventory.setStock(SEED_ITEMS, { onlyMissing: true });
  });
  app.addHook('onClose', async () => {
    await locks.close();
    await pool.end();
  });

  app.setErrorHandler(
    (
      error: { statusCode?: number; code?: string; validation?: unknown; message: string },
      request,
      reply,
    ) => {
      if (error.validation) return sendProblem(reply, 400, 'INVALID_ARGUMENT', error.message);
      const status = error.statusCode ?? 500;
      if (status === 413) return sendProblem(reply, 413, 'PAYLOAD_TOO_LARGE', 'the body is over 64 KiB');
      if (status === 415)
        return sendProblem(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
      if (status >= 400 && status < 500) return sendProblem(reply, status, 'INVALID_ARGUMENT', error.message);
      request.log.error({ err: error }, 'request failed');
      if (
        (typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code)) ||
        error.code === 'ECONNREFUSED'
      ) {
        return sendProblem(
          reply.header('retry-after', '1'),
          503,
          'DATABASE_UNAVAILABLE',
          'the database could not be reached or failed',
        );
      }
      return sendProblem(reply, 500, 'INTERNAL', 'the request failed; see the service log');
    },
  );
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      404,
      'NOT_FOUND',
      `no route ${request.method} ${request.url.split('?')[0]}; routes: POST /order, GET /stock/{item}, POST /stock, GET /healthz, GET /metrics`,
    ),
  );

  app.register(operationRoutes, context);
  app.register(stockRoutes, context);
  app.register(orderRoutes, context);
  return app;
}
