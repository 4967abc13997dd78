import type { FastifyInstance } from 'fastify';
import type { LockService } from '../lock-service.js';
import type { ServiceMetrics } from '../metrics.js';
import { ProblemError, problemResponse } from '../problem.js';

/** Health, readiness (the backend answers), Prometheus metrics and the OpenAPI document: no key needed. */

export interface OpsRoutesOptions {
  readonly service: LockService;
  readonly metrics: ServiceMetrics;
  readonly insecure: boolean;
  readonly openapi: () => unknown;
}

/** A key no tenant can name (tenants' keys are `tenant/key`), read to see that the store answers. */
const PROBE_KEY = '~leasekit-readyz';
const PROBE_TIMEOUT_MS = 2_000;

export async function opsRoutes(app: FastifyInstance, options: OpsRoutesOptions): Promise<void> {
  const { service, metrics, insecure } = options;
  const extra = insecure ? { insecure: true } : {};

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'The process is up',
        tags: ['operations'],
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['ok'] } },
          },
        },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'The backend answers',
        tags: ['operations'],
        response: {
          200: {
            type: 'object',
            required: ['status', 'backend'],
            properties: {
              status: { type: 'string', enum: ['ready'] },
              backend: { type: 'string' },
              insecure: { type: 'boolean', description: 'present (true) when serving without API keys' },
            },
          },
          503: problemResponse('The backend does not answer (BACKEND_UNAVAILABLE)'),
        },
      },
    },
    async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)),
          PROBE_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([service.locker.inspect(PROBE_KEY), timeout]);
      } catch (error) {
        throw new ProblemError(
          503,
          'BACKEND_UNAVAILABLE',
          `the ${service.backend.name} backend does not answer`,
          {
            headers: { 'retry-after': '1' },
            extra: {
              backend: service.backend.name,
              cause: error instanceof Error ? error.message : String(error),
              ...extra,
            },
          },
        );
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready', backend: service.backend.name, ...extra };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text exposition format' } },
      },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This API as OpenAPI 3.1',
        tags: ['operations'],
        response: { 200: { type: 'object', additionalProperties: true } },
      },
    },
    async () => options.openapi(),
  );
}
