/** `/healthz` (the process answers and the database does) and `/metrics` (Prometheus text). */
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../problem.js';
import type { RouteContext } from './context.js';

export async function operationRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  const { inventory, metrics, config } = context;

  app.get('/healthz', async (_request, reply) => {
    try {
      await inventory.getStock('healthz');
    } catch {
      return sendProblem(reply, 503, 'DATABASE_UNAVAILABLE', 'the database does not answer');
    }
    return { status: 'ok', instance: config.instance, locking: config.locking ? 'on' : 'off' };
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
