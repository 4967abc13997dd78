import {
  BackendUnavailableError,
  InvalidArgumentError,
  LeaseError,
  type LeaseOperation,
  NotHolderError,
} from '@leasekit/core';

export const BACKEND_NAME = 'azure-blob';

/** The fields of the SDK's `RestError` that classification reads (duck-typed: SDK copies may differ). */
export interface RestErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly statusCode?: number;
  readonly details?: { readonly errorCode?: string } | unknown;
}

/** On acquire: someone else holds the lease. */
export const HELD_CODES: ReadonlySet<string> = new Set([
  'LeaseAlreadyPresent',
  // Our own proposed ID is the lease being broken: not ours to take until the break ends.
  'LeaseIsBreakingAndCannotBeAcquired',
]);

/** On renew, release or a write under the lease: the lease is not (or no longer) ours. */
export const LOST_CODES: ReadonlySet<string> = new Set([
  'LeaseIdMismatchWithLeaseOperation',
  'LeaseNotPresentWithLeaseOperation',
  'LeaseIsBrokenAndCannotBeRenewed',
  'LeaseIsBreakingAndCannotBeChanged',
  'LeaseLost',
  'LeaseIdMismatchWithBlobOperation',
  'LeaseNotPresentWithBlobOperation',
  'LeaseIdMissing',
]);

/** Azure error codes that mean "try again": throttling and server-side trouble. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ServerBusy',
  'OperationTimedOut',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
]);

/** Azure's error code (`x-ms-error-code`) of an SDK error, if it has one. */
export function azureErrorCode(cause: unknown): string | undefined {
  if (!cause || typeof cause !== 'object') return undefined;
  const error = cause as RestErrorLike;
  const details = error.details as { errorCode?: unknown } | undefined;
  if (details && typeof details === 'object' && typeof details.errorCode === 'string')
    return details.errorCode;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** The HTTP status of an SDK error, if the request got an answer. */
export function httpStatus(cause: unknown): number | undefined {
  if (!cause || typeof cause !== 'object') return undefined;
  const status = (cause as RestErrorLike).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The SDK answered with an error status whose code is one of `codes`. */
export function hasCode(cause: unknown, codes: ReadonlySet<string>): boolean {
  const code = azureErrorCode(cause);
  return code !== undefined && codes.has(code);
}

export function isNotFound(cause: unknown, code: 'BlobNotFound' | 'ContainerNotFound'): boolean {
  return httpStatus(cause) === 404 && azureErrorCode(cause) === code;
}

function firstLine(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.split('\n', 1)[0]!.trim();
}

function isAbort(cause: unknown): boolean {
  return cause instanceof Error && (cause.name === 'AbortError' || cause.name === 'TimeoutError');
}

/** What Azure answered, for messages: `Azure answered 409 LeaseAlreadyPresent: There is already a lease present.` */
export function describeAnswer(cause: unknown): string {
  const status = httpStatus(cause);
  const code = azureErrorCode(cause);
  const answered = status === undefined ? '' : `Azure answered ${status}${code ? ` ${code}` : ''}: `;
  return `${answered}${firstLine(cause)}`;
}

/**
 * Maps anything the Azure SDK threw to a leasekit error, keeping the original as `cause`:
 * - lease conflicts (409/412 `LeaseIdMismatch…`, `LeaseNotPresent…`, `LeaseLost`, `LeaseAlreadyPresent`, …)
 *   → `NotHolderError` (not retryable);
 * - throttling (429, 503 `ServerBusy`), 5xx, timeouts and network failures → `BackendUnavailableError`, retryable;
 * - anything else Azure refused (400, 401, 403, 404 `ContainerNotFound`, …) → `BackendUnavailableError`,
 *   not retryable, with Azure's code and message (`InvalidArgumentError` for `InvalidLeaseDuration`).
 *
 * A `LeaseError` passes through unchanged.
 */
export function classifyError(cause: unknown, operation: LeaseOperation, key?: string): LeaseError {
  if (cause instanceof LeaseError) return cause;
  const options = { backend: BACKEND_NAME, operation, key, cause };
  const status = httpStatus(cause);
  const code = azureErrorCode(cause);
  const detail = describeAnswer(cause);

  if (code !== undefined && (LOST_CODES.has(code) || HELD_CODES.has(code))) {
    return new NotHolderError(detail, options);
  }
  if (status === undefined) {
    // No answer: a network failure, a per-try timeout or an abort. The request may or may not
    // have landed. Any I/O error code (not just the well-known ones) is worth another try; an
    // error without one is a bug, and retrying it would only hide it.
    return new BackendUnavailableError(detail, {
      ...options,
      retryable: isAbort(cause) || code !== undefined,
    });
  }
  if (
    status === 408 ||
    status === 429 ||
    status >= 500 ||
    (code !== undefined && TRANSIENT_CODES.has(code))
  ) {
    return new BackendUnavailableError(detail, { ...options, retryable: true });
  }
  if (code === 'InvalidLeaseDuration') return new InvalidArgumentError(detail, options);
  const hint =
    status === 401 || status === 403
      ? ' (check the credential and its permissions on the container)'
      : code === 'ContainerNotFound'
        ? ' (create the container, or let the backend create it: createContainer: true)'
        : '';
  return new BackendUnavailableError(`${detail}${hint}`, { ...options, retryable: false });
}
