import { BackendUnavailableError } from '@leasekit/core';
import { type ErrorContext, errorFromAnswer } from './errors.js';
import { problemOf, type Transport } from './transport.js';

/** What `GET /v1/capabilities` says about the service and the store behind it (API.md). */
export interface ServiceCapabilities {
  /** The store the service runs on: `memory`, `redis`, `azure-blob`, `dynamodb`. */
  readonly backend: string;
  /** Fences strictly increase across holders of a key. */
  readonly fencing: boolean;
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly ttlGranularityMs: number;
  readonly defaultTtlMs: number;
  /** Leases can be renewed. */
  readonly renewal: boolean;
  readonly waiting: { readonly serverSide: boolean; readonly maxWaitMs: number };
  readonly maxKeyLength: number;
  /** `Idempotency-Key` on acquire is honoured. */
  readonly idempotency: boolean;
  /** The store's largest renewal interval as a fraction of the TTL, when it has one (DynamoDB: 0.5). */
  readonly maxRenewFraction?: number | undefined;
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

const isFraction = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= 1;

/** Reads and checks the service's capabilities; an answer of another shape is a wrong `baseUrl`. */
export async function fetchCapabilities(
  transport: Transport,
  context: ErrorContext,
  signal?: AbortSignal,
): Promise<ServiceCapabilities> {
  const answer = await transport.send({ method: 'GET', path: '/v1/capabilities', signal }, context);
  if (answer.status !== 200) throw errorFromAnswer(problemOf(answer), context);
  const body = answer.body as Partial<Record<keyof ServiceCapabilities, unknown>> | undefined;
  const waiting = body?.waiting as Partial<ServiceCapabilities['waiting']> | undefined;
  if (
    typeof body !== 'object' ||
    body === null ||
    typeof body.fencing !== 'boolean' ||
    !isCount(body.minTtlMs) ||
    !isCount(body.maxTtlMs) ||
    body.minTtlMs > body.maxTtlMs
  ) {
    throw new BackendUnavailableError(
      'GET /v1/capabilities did not answer as a leasekit lock service (is baseUrl right?)',
      { ...context, retryable: false },
    );
  }
  return {
    backend: typeof body.backend === 'string' ? body.backend : 'unknown',
    fencing: body.fencing,
    minTtlMs: body.minTtlMs,
    maxTtlMs: body.maxTtlMs,
    ttlGranularityMs: isCount(body.ttlGranularityMs) && body.ttlGranularityMs > 0 ? body.ttlGranularityMs : 1,
    defaultTtlMs: isCount(body.defaultTtlMs) ? body.defaultTtlMs : 30_000,
    renewal: body.renewal !== false,
    waiting: {
      serverSide: waiting?.serverSide === true,
      maxWaitMs: isCount(waiting?.maxWaitMs) ? waiting.maxWaitMs : 0,
    },
    maxKeyLength: isCount(body.maxKeyLength) && body.maxKeyLength > 0 ? body.maxKeyLength : 200,
    idempotency: body.idempotency === true,
    ...(isFraction(body.maxRenewFraction) ? { maxRenewFraction: body.maxRenewFraction } : {}),
  };
}
