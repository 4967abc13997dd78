import { isLeaseError, type LeaseError } from '@leasekit/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** The `code`s the service answers with (leasekit's, plus the HTTP-only ones). */
export type ProblemCode =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'LOCK_HELD'
  | 'LEASE_LOST'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BACKEND_UNAVAILABLE'
  | 'QUORUM_NOT_REACHED'
  | 'SHUTTING_DOWN'
  | 'UNSUPPORTED'
  | 'INTERNAL';

const titles: Record<ProblemCode, string> = {
  INVALID_ARGUMENT: 'Invalid argument',
  UNAUTHORIZED: 'Unauthorized',
  NOT_FOUND: 'Not found',
  LOCK_HELD: 'Lock held',
  LEASE_LOST: 'Lease lost',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  BACKEND_UNAVAILABLE: 'Backend unavailable',
  QUORUM_NOT_REACHED: 'Quorum not reached',
  SHUTTING_DOWN: 'Shutting down',
  UNSUPPORTED: 'Unsupported',
  INTERNAL: 'Internal error',
};

/** An error the service answers as `application/problem+json` (RFC 9457) with leasekit's `code`. */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly extra: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    status: number,
    code: ProblemCode,
    detail: string,
    options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.status = status;
    this.code = code;
    this.extra = options.extra ?? {};
    this.headers = options.headers ?? {};
  }
}

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ProblemCode;
  readonly detail: string;
  readonly requestId?: string;
  readonly [extra: string]: unknown;
}

export function problemBody(problem: ProblemError, requestId?: string): ProblemBody {
  return {
    type: `https://leasekit.dev/problems/${problem.code.toLowerCase().replaceAll('_', '-')}`,
    title: titles[problem.code],
    status: problem.status,
    code: problem.code,
    detail: problem.message,
    ...(requestId === undefined ? {} : { requestId }),
    ...problem.extra,
  };
}

/** Seconds a client should wait before retrying a store that failed. */
export const UNAVAILABLE_RETRY_AFTER_S = 1;

/** leasekit's errors as HTTP problems. */
export function fromLeaseError(error: LeaseError): ProblemError {
  // The store's own message (host names, SDK text) stays in the logs; the detail says what happened.
  const detail = error.message;
  switch (error.code) {
    case 'INVALID_ARGUMENT':
      return new ProblemError(400, 'INVALID_ARGUMENT', detail);
    case 'LEASE_LOST':
    case 'NOT_HOLDER':
      return new ProblemError(
        410,
        'LEASE_LOST',
        'the lease token no longer holds this key (expired, released or taken)',
      );
    case 'ACQUIRE_TIMEOUT':
      return new ProblemError(409, 'LOCK_HELD', detail);
    case 'UNAUTHORIZED':
      return new ProblemError(401, 'UNAUTHORIZED', detail);
    case 'UNSUPPORTED':
      return new ProblemError(400, 'UNSUPPORTED', detail);
    case 'QUORUM_NOT_REACHED':
      return new ProblemError(503, 'QUORUM_NOT_REACHED', 'the store could not reach a quorum of its nodes', {
        headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_S) },
      });
    case 'CLOSED':
      return new ProblemError(
        503,
        'SHUTTING_DOWN',
        'the service is shutting down; retry on another instance',
        {
          headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_S) },
        },
      );
    default:
      return new ProblemError(503, 'BACKEND_UNAVAILABLE', 'the store is unavailable', {
        headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_S) },
      });
  }
}

const fastifyCodes: Record<string, ProblemCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
};

/** Any error a route or Fastify raised, as a problem; `internal` for a bug (logged, never shown). */
export function toProblem(error: unknown): { problem: ProblemError; internal: boolean } {
  if (error instanceof ProblemError) return { problem: error, internal: false };
  if (isLeaseError(error)) return { problem: fromLeaseError(error), internal: false };
  const fastifyError = error as Partial<FastifyError> | undefined;
  if (fastifyError?.validation) {
    const context = fastifyError.validationContext ?? 'request';
    const details = fastifyError.validation
      .slice(0, 5)
      .map((issue) => `${context}${issue.instancePath || ''} ${issue.message ?? 'is invalid'}`)
      .join('; ');
    return { problem: new ProblemError(400, 'INVALID_ARGUMENT', details), internal: false };
  }
  const status = fastifyError?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code =
      fastifyCodes[fastifyError?.code ?? ''] ??
      (status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_ARGUMENT');
    const normalized = code === 'INVALID_ARGUMENT' ? 400 : status;
    return {
      problem: new ProblemError(normalized, code, fastifyError?.message ?? 'bad request'),
      internal: false,
    };
  }
  if (error instanceof SyntaxError) {
    return {
      problem: new ProblemError(400, 'INVALID_ARGUMENT', 'the body is not valid JSON'),
      internal: false,
    };
  }
  return {
    problem: new ProblemError(500, 'INTERNAL', 'internal error; see the service logs'),
    internal: true,
  };
}

/** Sends `problem` as `application/problem+json`. */
export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  problem: ProblemError,
): FastifyReply {
  for (const [name, value] of Object.entries(problem.headers)) void reply.header(name, value);
  if (problem.status === 401) void reply.header('www-authenticate', 'Bearer realm="leasekit"');
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send(JSON.stringify(problemBody(problem, request.id)));
}

/** The problem+json schema (for OpenAPI and documentation; bodies are sent pre-serialized). */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: "An RFC 9457 problem with leasekit's `code`",
  required: ['type', 'title', 'status', 'code', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    requestId: { type: 'string' },
    holder: {
      type: ['object', 'null'],
      properties: { owner: { type: ['string', 'null'] }, expiresAt: { type: ['integer', 'null'] } },
    },
  },
} as const;

/** Response schema entry for a problem status. */
export function problemResponse(description: string): Record<string, unknown> {
  return { description, content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } };
}
