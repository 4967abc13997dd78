import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { clientGone } from '../client-gone.js';
import { DEFAULT_TTL_MS, DURATION_PATTERN, MAX_WAIT_MS, parseDuration } from '../durations.js';
import type { HoldingCredential, LockService } from '../lock-service.js';
import { ProblemError, problemResponse } from '../problem.js';
import { decodeLeaseToken, IDEMPOTENCY_KEY_PATTERN, KEY_PATTERN, TOKEN_PATTERN } from '../tokens.js';

/** The v1 lock routes: acquire, renew, release, inspect, capabilities. */

export interface LocksRoutesOptions {
  readonly service: LockService;
  /** Sets `request.tenant` or refuses the request (`Authenticator.authenticate`). */
  readonly authenticate: onRequestHookHandler;
  /** Aborted when the server starts shutting down: waits end with a 503. */
  readonly shutdown: AbortSignal;
}

const duration = {
  anyOf: [
    { type: 'integer', minimum: 0, maximum: 2_147_483_647, description: 'milliseconds' },
    {
      type: 'string',
      pattern: DURATION_PATTERN,
      description: 'e.g. "250ms", "30s", "2m", "1h"',
    },
  ],
} as const;

const keyParams = {
  type: 'object',
  required: ['key'],
  properties: {
    key: { type: 'string', pattern: KEY_PATTERN, description: '1-200 of A-Z a-z 0-9 . _ : ~ -' },
  },
} as const;

const fence = {
  type: ['string', 'null'],
  description: 'decimal string; null when the backend has no fencing',
} as const;
const security = [{ bearer: [] }];

const acquireBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    ttl: duration,
    wait: duration,
    mode: { type: 'string', enum: ['timeout', 'lease'] },
    owner: { type: 'string', maxLength: 200 },
    metadata: {
      type: 'object',
      maxProperties: 16,
      propertyNames: { pattern: '^[A-Za-z0-9._:~-]{1,64}$' },
      additionalProperties: { type: 'string', maxLength: 1024 },
    },
  },
} as const;

interface AcquireBody {
  ttl?: number | string;
  wait?: number | string;
  mode?: 'timeout' | 'lease';
  owner?: string;
  metadata?: Record<string, string>;
}

const granted = {
  type: 'object',
  required: ['key', 'token', 'fence', 'ttlMs', 'expiresAt', 'serverTime', 'waitedMs', 'owner', 'mode'],
  properties: {
    key: { type: 'string' },
    token: { type: 'string', description: 'the ownership credential: send it back in Lease-Token' },
    fence,
    ttlMs: { type: 'integer' },
    expiresAt: { type: 'integer', description: "epoch ms: the server's conservative local deadline" },
    serverTime: { type: 'integer' },
    waitedMs: { type: 'integer', description: 'how long the server held the request before the grant' },
    owner: { type: ['string', 'null'] },
    mode: { type: 'string', enum: ['timeout', 'lease'] },
  },
} as const;

/** Renew and release name the holding by its lease token, or by the acquire's Idempotency-Key. */
const holdingHeaders = {
  type: 'object',
  properties: {
    'lease-token': { type: 'string', pattern: TOKEN_PATTERN },
    'idempotency-key': {
      type: 'string',
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description:
        'instead of Lease-Token: the Idempotency-Key the acquire sent, at least 16 characters (a credential: as unguessable as a lease token)',
    },
    'lease-fence': {
      type: 'string',
      pattern: '^(0|[1-9][0-9]{0,19})$',
      description: "with Idempotency-Key: the holding's fence, answered back by renew",
    },
  },
} as const;

interface HoldingHeaders {
  'lease-token'?: string;
  'idempotency-key'?: string;
  'lease-fence'?: string;
}

/** Shortest `Idempotency-Key` accepted as the credential of a renew or release. */
export const MIN_CREDENTIAL_IDEMPOTENCY_KEY = 16;

/** The credential of a renew or release: exactly one of Lease-Token and Idempotency-Key. */
function credentialOf(headers: HoldingHeaders): HoldingCredential {
  const leaseToken = headers['lease-token'];
  const idempotencyKey = headers['idempotency-key'];
  if ((leaseToken === undefined) === (idempotencyKey === undefined)) {
    throw new ProblemError(
      400,
      'INVALID_ARGUMENT',
      'send exactly one of Lease-Token (the token the acquire answered) and Idempotency-Key (the one the acquire sent)',
    );
  }
  if (leaseToken !== undefined) {
    const decoded = decodeLeaseToken(leaseToken);
    if (decoded === undefined) {
      throw new ProblemError(400, 'INVALID_ARGUMENT', 'Lease-Token is not a lease token this service issued');
    }
    return { leaseToken: decoded };
  }
  // As a credential the key must be as unguessable as a lease token: anyone who knows it renews
  // or releases the holding. A short one (fine on acquire, for retries) leaves only the Lease-Token.
  if (idempotencyKey!.length < MIN_CREDENTIAL_IDEMPOTENCY_KEY) {
    throw new ProblemError(
      400,
      'INVALID_ARGUMENT',
      `Idempotency-Key must be at least ${MIN_CREDENTIAL_IDEMPOTENCY_KEY} characters to renew or release by it (it is then a credential, as unguessable as a lease token, e.g. a UUID); got ${idempotencyKey!.length}. With a shorter one, renew and release by Lease-Token`,
    );
  }
  const fenceText = headers['lease-fence'];
  const fence = fenceText === undefined ? undefined : Number(fenceText);
  if (fence !== undefined && !Number.isSafeInteger(fence)) {
    throw new ProblemError(400, 'INVALID_ARGUMENT', `Lease-Fence must be at most ${Number.MAX_SAFE_INTEGER}`);
  }
  return { idempotencyKey: idempotencyKey!, fence };
}

/** `fence` on the wire: a decimal string (fences can exceed 2^53 on some backends) or null. */
function fenceText(value: number | undefined): string | null {
  return value === undefined ? null : String(value);
}

export async function locksRoutes(app: FastifyInstance, options: LocksRoutesOptions): Promise<void> {
  const { service, shutdown } = options;
  app.addHook('onRequest', options.authenticate);

  app.post<{ Params: { key: string }; Body: AcquireBody | null; Headers: { 'idempotency-key'?: string } }>(
    '/v1/locks/:key',
    {
      schema: {
        summary: 'Acquire a lock',
        description: `Waits up to \`wait\` (at most ${MAX_WAIT_MS} ms) on the server; the key is handed over when its holder releases it.`,
        tags: ['locks'],
        security,
        params: keyParams,
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN } },
        },
        body: acquireBody,
        response: {
          201: { ...granted, description: 'Acquired; Location names the lock' },
          400: problemResponse('Bad key, body, header or duration'),
          401: problemResponse('Missing or unknown API key'),
          409: problemResponse('Still held after `wait` (LOCK_HELD, with Retry-After and holder)'),
          413: problemResponse('Body over 16 KiB'),
          415: problemResponse('Body not JSON'),
          503: problemResponse('The store failed (Retry-After)'),
        },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant;
      const body = request.body ?? {};
      const ttlMs = parseDuration(body.ttl ?? DEFAULT_TTL_MS, 'ttl');
      const waitMs = parseDuration(body.wait ?? 0, 'wait');
      if (waitMs > MAX_WAIT_MS) {
        throw new ProblemError(
          400,
          'INVALID_ARGUMENT',
          `wait must be 0 to ${MAX_WAIT_MS} ms (30s); got ${waitMs} ms`,
        );
      }
      const metadata = body.metadata ?? null;
      if (metadata !== null && JSON.stringify(metadata).length > 1024) {
        throw new ProblemError(400, 'INVALID_ARGUMENT', 'metadata must be at most 1 KiB as JSON');
      }
      const mode = body.mode ?? 'timeout';
      const key = request.params.key;
      const result = await service.acquire({
        tenant,
        key,
        ttlMs,
        waitMs,
        mode,
        owner: body.owner ?? null,
        metadata,
        idempotencyKey: request.headers['idempotency-key'],
        gone: clientGone(reply),
        shutdown,
        elapsedMs: () => reply.elapsedTime,
      });
      // The client went away (nginx's 499): nobody reads this; any grant was given back.
      if (result.kind === 'gone') return reply.code(499).send();
      if (result.kind === 'held') {
        throw new ProblemError(
          409,
          'LOCK_HELD',
          waitMs > 0 ? `still held after waiting ${waitMs} ms` : 'held by someone else',
          {
            headers: { 'retry-after': String(result.retryAfterS) },
            extra: { holder: result.holder },
          },
        );
      }
      void reply.code(201).header('location', `/v1/locks/${key}`);
      return {
        key,
        token: result.token,
        fence: fenceText(result.fence),
        ttlMs: result.ttlMs,
        expiresAt: result.expiresAt,
        serverTime: Date.now(),
        waitedMs: result.waitedMs,
        owner: body.owner ?? null,
        mode,
      };
    },
  );

  app.post<{
    Params: { key: string };
    Body: { ttl?: number | string } | null;
    Headers: HoldingHeaders;
  }>(
    '/v1/locks/:key/renew',
    {
      schema: {
        summary: 'Renew (extend) a held lock',
        tags: ['locks'],
        security,
        params: keyParams,
        headers: holdingHeaders,
        body: { type: ['object', 'null'], additionalProperties: false, properties: { ttl: duration } },
        response: {
          200: {
            type: 'object',
            required: ['key', 'fence', 'ttlMs', 'expiresAt', 'serverTime'],
            properties: {
              key: { type: 'string' },
              fence,
              ttlMs: { type: 'integer' },
              expiresAt: { type: 'integer' },
              serverTime: { type: 'integer' },
            },
          },
          400: problemResponse('Bad key, token or TTL'),
          401: problemResponse('Missing or unknown API key'),
          410: problemResponse('LEASE_LOST: the token no longer holds the key'),
          413: problemResponse('Body over 16 KiB'),
          415: problemResponse('Body not JSON'),
          503: problemResponse('The store failed (Retry-After)'),
        },
      },
    },
    async (request) => {
      const tenant = request.tenant;
      const ttlMs = parseDuration(request.body?.ttl ?? DEFAULT_TTL_MS, 'ttl');
      const key = request.params.key;
      const renewed = await service.renew(tenant, key, credentialOf(request.headers), ttlMs);
      return {
        key,
        fence: fenceText(renewed.fence),
        ttlMs: renewed.ttlMs,
        expiresAt: renewed.expiresAt,
        serverTime: Date.now(),
      };
    },
  );

  app.delete<{ Params: { key: string }; Headers: HoldingHeaders }>(
    '/v1/locks/:key',
    {
      schema: {
        summary: 'Release a held lock',
        tags: ['locks'],
        security,
        params: keyParams,
        headers: holdingHeaders,
        response: {
          204: { type: 'null', description: 'Released' },
          400: problemResponse('Bad key or token'),
          401: problemResponse('Missing or unknown API key'),
          410: problemResponse('LEASE_LOST: the token did not hold the key'),
          503: problemResponse('The store failed (Retry-After)'),
        },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant;
      const released = await service.release(tenant, request.params.key, credentialOf(request.headers));
      if (!released) {
        throw new ProblemError(
          410,
          'LEASE_LOST',
          'the lease did not hold this key (expired, released or taken)',
        );
      }
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { key: string } }>(
    '/v1/locks/:key',
    {
      schema: {
        summary: 'Who holds a lock (never the token)',
        tags: ['locks'],
        security,
        params: keyParams,
        response: {
          200: {
            type: 'object',
            required: ['key', 'held', 'owner', 'fence', 'expiresAt', 'ttlRemainingMs', 'mode', 'metadata'],
            properties: {
              key: { type: 'string' },
              held: { type: 'boolean', enum: [true] },
              owner: { type: ['string', 'null'] },
              fence,
              expiresAt: { type: ['integer', 'null'] },
              ttlRemainingMs: { type: ['integer', 'null'] },
              mode: { type: ['string', 'null'], enum: ['timeout', 'lease', null] },
              metadata: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
            },
          },
          400: problemResponse('Bad key'),
          401: problemResponse('Missing or unknown API key'),
          404: problemResponse('Nobody holds the key'),
          503: problemResponse('The store failed (Retry-After)'),
        },
      },
    },
    async (request) => {
      const tenant = request.tenant;
      const key = request.params.key;
      const info = await service.inspect(tenant, key);
      if (!info) throw new ProblemError(404, 'NOT_FOUND', 'nobody holds this key');
      return {
        key,
        held: true,
        owner: info.owner,
        fence: fenceText(info.fence),
        expiresAt: info.expiresAt === null ? null : Math.floor(info.expiresAt),
        ttlRemainingMs: info.ttlRemainingMs,
        mode: info.mode,
        metadata: info.metadata,
      };
    },
  );

  app.get(
    '/v1/capabilities',
    {
      schema: {
        summary: "The backend's TTL range, fencing, renewal and waiting",
        tags: ['locks'],
        security,
        response: {
          200: {
            type: 'object',
            required: [
              'backend',
              'fencing',
              'minTtlMs',
              'maxTtlMs',
              'ttlGranularityMs',
              'defaultTtlMs',
              'renewal',
              'waiting',
              'maxKeyLength',
              'idempotency',
            ],
            properties: {
              backend: { type: 'string' },
              fencing: { type: 'boolean' },
              minTtlMs: { type: 'integer' },
              maxTtlMs: { type: 'integer' },
              ttlGranularityMs: { type: 'integer' },
              defaultTtlMs: { type: 'integer' },
              renewal: { type: 'boolean' },
              waiting: {
                type: 'object',
                required: ['serverSide', 'maxWaitMs'],
                properties: { serverSide: { type: 'boolean' }, maxWaitMs: { type: 'integer' } },
              },
              maxKeyLength: { type: 'integer' },
              idempotency: { type: 'boolean' },
              maxRenewFraction: {
                type: 'number',
                description:
                  'when the backend has one: the largest fraction of a TTL a client may wait between renewals',
              },
            },
          },
          401: problemResponse('Missing or unknown API key'),
        },
      },
    },
    async () => {
      const caps = service.backend.capabilities;
      return {
        backend: service.backend.name,
        fencing: caps.fencing,
        minTtlMs: caps.minTtlMs,
        maxTtlMs: caps.maxTtlMs,
        ttlGranularityMs: caps.ttlGranularityMs ?? 1,
        defaultTtlMs: DEFAULT_TTL_MS,
        renewal: service.renewal,
        waiting: { serverSide: true, maxWaitMs: MAX_WAIT_MS },
        maxKeyLength: 200,
        idempotency: true,
        ...(caps.maxRenewFraction === undefined ? {} : { maxRenewFraction: caps.maxRenewFraction }),
      };
    },
  );
}
