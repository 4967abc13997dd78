import { BackendUnavailableError, InvalidArgumentError, LeaseError, UnauthorizedError } from '@leasekit/core';

/** An `application/problem+json` body as the service sends it (API.md, "Errors"). */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly code?: string;
  readonly detail?: string;
  readonly [extra: string]: unknown;
}

/**
 * What the service answered, kept as the `cause` of the `LeaseError` raised for it: the HTTP
 * status, the problem body (when it sent one) and its `Retry-After`, in ms.
 */
export class HttpProblemError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;
  readonly retryAfterMs: number | undefined;
  /** The service's `x-request-id` of the request, as its problem body repeats it: for its logs. */
  readonly requestId: string | undefined;
  constructor(status: number, problem: Problem | undefined, retryAfterMs: number | undefined) {
    const code = problem?.code ? ` ${problem.code}` : '';
    const detail = problem?.detail ?? problem?.title;
    super(`HTTP ${status}${code}${detail ? `: ${detail}` : ''}`);
    this.name = 'HttpProblemError';
    this.status = status;
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
    this.requestId = typeof problem?.requestId === 'string' ? problem.requestId : undefined;
  }
}

/** Where an error happened: for messages (`[leasekit] [http] acquire "k": ...`). */
export interface ErrorContext {
  readonly backend: string;
  readonly operation: string;
  readonly key?: string | undefined;
}

/**
 * Maps an answer that is not one of the route's expected outcomes to a `LeaseError`:
 * 400/413/415 bad input, 401/403 unauthorized, 5xx the store (or the service) unavailable
 * (retryable), anything else a service that does not speak this API (not retryable).
 */
export function errorFromAnswer(answer: HttpProblemError, context: ErrorContext): LeaseError {
  const options = { ...context, cause: answer };
  const detail =
    answer.problem?.detail ?? answer.problem?.title ?? `the service answered HTTP ${answer.status}`;
  const status = answer.status;
  if (status === 400 || status === 413 || status === 415 || status === 422) {
    return new InvalidArgumentError(detail, options);
  }
  if (status === 401 || status === 403) return new UnauthorizedError(detail, options);
  if (status >= 500) {
    return new BackendUnavailableError(`${detail} (HTTP ${status})`, {
      ...options,
      retryable: status !== 501,
    });
  }
  return new BackendUnavailableError(
    `unexpected answer HTTP ${status} (is baseUrl the leasekit lock service?): ${detail}`,
    { ...options, retryable: false },
  );
}

/** A request that got no answer (refused, reset, timed out): the service is unavailable, retryably. */
export function networkError(error: unknown, context: ErrorContext): LeaseError {
  if (error instanceof LeaseError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return new BackendUnavailableError(
    `no answer from the lock service: ${typeof code === 'string' ? `${code} ` : ''}${message}`,
    { ...context, cause: error },
  );
}
