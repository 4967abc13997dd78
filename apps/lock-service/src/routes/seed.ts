import { isLeaseError } from '@leasekit/core';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { clientGone } from '../client-gone.js';
import { formatGoDuration, parseGoDuration } from '../durations.js';
import type { LockService } from '../lock-service.js';
import { ProblemError } from '../problem.js';
import { decodeLeaseToken, KEY_PATTERN } from '../tokens.js';

/**
 * Drop-in routes of the seed's Go service (`POST /lock`, `/unlock`, `/refresh`, `GET /ttl`):
 * query parameters, Go durations, and its response bodies, so its SDK and order service work
 * unchanged. Errors answer `{ error }` as the seed did (the error handler sees `config.seed`).
 * Differences (documented in the README): release and refresh are atomic, a token mismatch is a
 * 404 (the seed: 500), a missing `ttl` on `/lock` is 10 s (the seed: 10 ms), auth applies, and a
 * store failure is 503 (the seed: 500).
 */

export interface SeedRoutesOptions {
  readonly service: LockService;
  /** Sets `request.tenant` or refuses the request (`Authenticator.authenticate`). */
  readonly authenticate: onRequestHookHandler;
}

/**
 * A missing or invalid parameter of a seed route: a problem like any other (400,
 * `INVALID_ARGUMENT`), answered `{ error }` as the seed did because its route says `seed`.
 */
export class SeedParameterError extends ProblemError {
  constructor(detail: string) {
    super(400, 'INVALID_ARGUMENT', detail);
    this.name = 'SeedParameterError';
  }
}

const DEFAULT_SEED_TTL_MS = 10_000;
/** `/lock` never waits, so shutting down has nothing to cut short. */
const NEVER = new AbortController().signal;
const NOT_FOUND = 'lock not found or expired';

const errorBody = { type: 'object', properties: { error: { type: 'string' } } } as const;
const resource = { type: 'string', pattern: KEY_PATTERN } as const;
const token = { type: 'string', minLength: 1, maxLength: 128 } as const;
const ttl = {
  type: 'string',
  maxLength: 64,
  description: 'Go duration, e.g. "10s", "50ms", "1m30s"',
} as const;

function query(properties: Record<string, unknown>, required: string[]): Record<string, unknown> {
  return { type: 'object', required, properties };
}

function seedTtl(service: LockService, text: string | undefined, operation: string): number {
  if (text === undefined) return DEFAULT_SEED_TTL_MS;
  const ms = parseGoDuration(text);
  if (ms === undefined)
    throw new SeedParameterError(
      `invalid ttl ${JSON.stringify(text)}: a Go duration such as 10s, 50ms, 1m30s`,
    );
  const whole = Math.ceil(ms);
  try {
    return service.checkTtl(whole, operation);
  } catch (error) {
    if (isLeaseError(error, 'INVALID_ARGUMENT'))
      throw new SeedParameterError(`invalid ttl: ${error.message}`);
    throw error;
  }
}

export async function seedRoutes(app: FastifyInstance, options: SeedRoutesOptions): Promise<void> {
  const { service } = options;
  app.addHook('onRequest', options.authenticate);
  const config = { seed: true };

  app.post<{ Querystring: { resource: string; ttl?: string } }>(
    '/lock',
    {
      config,
      schema: {
        summary: 'Seed service: acquire (one attempt, no wait)',
        tags: ['seed'],
        querystring: query({ resource, ttl }, ['resource']),
        response: {
          200: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              token: { type: 'string' },
              resource: { type: 'string' },
              ttl: { type: 'string' },
              acquired: { type: 'boolean' },
            },
          },
          400: errorBody,
          409: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              resource: { type: 'string' },
              acquired: { type: 'boolean' },
              message: { type: 'string' },
            },
          },
          503: errorBody,
        },
      },
    },
    async (request, reply) => {
      const { resource: name } = request.query;
      const ttlMs = seedTtl(service, request.query.ttl, 'acquire');
      const result = await service.acquire({
        tenant: request.tenant,
        key: name,
        ttlMs,
        waitMs: 0,
        mode: 'timeout',
        owner: null,
        metadata: null,
        idempotencyKey: undefined,
        gone: clientGone(reply),
        shutdown: NEVER,
        elapsedMs: () => reply.elapsedTime,
      });
      if (result.kind === 'gone') return reply.code(499).send();
      if (result.kind === 'held') {
        return reply
          .code(409)
          .send({ code: 409, resource: name, acquired: false, message: 'resource is already locked' });
      }
      return { code: 200, token: result.token, resource: name, ttl: formatGoDuration(ttlMs), acquired: true };
    },
  );

  app.post<{ Querystring: { resource: string; token: string } }>(
    '/unlock',
    {
      config,
      schema: {
        summary: 'Seed service: release',
        tags: ['seed'],
        querystring: query({ resource, token }, ['resource', 'token']),
        response: {
          200: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              token: { type: 'string' },
              resource: { type: 'string' },
            },
          },
          400: errorBody,
          404: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              resource: { type: 'string' },
              token: { type: 'string' },
              message: { type: 'string' },
            },
          },
          503: errorBody,
        },
      },
    },
    async (request, reply) => {
      const { resource: name, token: leaseToken } = request.query;
      const decoded = decodeLeaseToken(leaseToken);
      const released =
        decoded !== undefined && (await service.release(request.tenant, name, { leaseToken: decoded }));
      if (!released) {
        return reply.code(404).send({ code: 404, resource: name, token: leaseToken, message: NOT_FOUND });
      }
      return { code: 200, token: leaseToken, resource: name };
    },
  );

  app.post<{ Querystring: { resource: string; token: string; ttl?: string } }>(
    '/refresh',
    {
      config,
      schema: {
        summary: 'Seed service: refresh (extend)',
        tags: ['seed'],
        querystring: query({ resource, token, ttl }, ['resource', 'token']),
        response: {
          200: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              token: { type: 'string' },
              resource: { type: 'string' },
              ttl: { type: 'string' },
              refreshed: { type: 'boolean' },
            },
          },
          400: errorBody,
          404: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              resource: { type: 'string' },
              token: { type: 'string' },
              ttl: { type: 'string' },
              refreshed: { type: 'boolean' },
              message: { type: 'string' },
            },
          },
          503: errorBody,
        },
      },
    },
    async (request, reply) => {
      const { resource: name, token: leaseToken } = request.query;
      const ttlMs = seedTtl(service, request.query.ttl, 'renew');
      const ttlText = formatGoDuration(ttlMs);
      const notFound = () =>
        reply.code(404).send({
          code: 404,
          resource: name,
          token: leaseToken,
          ttl: ttlText,
          refreshed: false,
          message: NOT_FOUND,
        });
      const decoded = decodeLeaseToken(leaseToken);
      if (decoded === undefined) return notFound();
      try {
        await service.renew(request.tenant, name, { leaseToken: decoded }, ttlMs);
      } catch (error) {
        if (isLeaseError(error, 'LEASE_LOST')) return notFound();
        throw error;
      }
      return { code: 200, token: leaseToken, resource: name, ttl: ttlText, refreshed: true };
    },
  );

  app.get<{ Querystring: { resource: string; token: string } }>(
    '/ttl',
    {
      config,
      schema: {
        summary: 'Seed service: remaining TTL of a holding',
        tags: ['seed'],
        querystring: query({ resource, token }, ['resource', 'token']),
        response: {
          200: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              resource: { type: 'string' },
              token: { type: 'string' },
              ttl: { type: 'string' },
            },
          },
          400: errorBody,
          404: {
            type: 'object',
            properties: {
              code: { type: 'integer' },
              resource: { type: 'string' },
              token: { type: 'string' },
              ttl: { type: 'string' },
              message: { type: 'string' },
            },
          },
          503: errorBody,
        },
      },
    },
    async (request, reply) => {
      const { resource: name, token: leaseToken } = request.query;
      const decoded = decodeLeaseToken(leaseToken);
      const info = decoded === undefined ? null : await service.inspect(request.tenant, name);
      // The holder's store token when the backend tells; a backend that does not (Azure) still
      // tells the holder's fence, which the lease token carries: a token of another holding (an
      // earlier one, whose fence was smaller) is then told apart. Without either: not ours.
      const ours =
        info !== null &&
        decoded !== undefined &&
        (info.storeToken !== undefined
          ? info.storeToken === decoded.storeToken
          : decoded.fence !== undefined && info.fence === decoded.fence);
      if (!ours || info.ttlRemainingMs === null) {
        return reply
          .code(404)
          .send({ code: 404, resource: name, token: leaseToken, ttl: '0s', message: NOT_FOUND });
      }
      return { code: 200, resource: name, token: leaseToken, ttl: formatGoDuration(info.ttlRemainingMs) };
    },
  );
}
