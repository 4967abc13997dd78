import {
  BackendUnavailableError,
  InvalidArgumentError,
  LeaseError,
  type LeaseOperation,
  NotHolderError,
} from '@leasekit/core';

export const BACKEND = 'dynamodb';

/** The AWS SDK's error shape, as far as classification needs it. */
interface AwsErrorLike {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $fault?: 'client' | 'server';
  readonly $retryable?: { readonly throttling?: boolean };
  readonly $metadata?: { readonly httpStatusCode?: number };
}

// DynamoDB asked us to slow down: retry later (within the lease's remaining validity).
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);

// The service failed on its side, or a concurrent transaction touched the item.
const TRANSIENT = new Set([
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'ItemCollectionSizeLimitExceededException',
]);

// The request left (or may have left) but no answer came back: the write's outcome is unknown.
const TIMEOUTS = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

// Nothing was sent, or the connection failed before the request could be processed.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

// Credentials and permissions: no retry will fix them.
const ACCESS = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'IncompleteSignatureException',
  'CredentialsProviderError',
]);

/**
 * Maps what the AWS SDK threw into a `LeaseError`, keeping the AWS error as `cause`:
 * throttling, 5xx, timeouts and network failures are a retryable `BACKEND_UNAVAILABLE` (core
 * retries them within the wait or the lease's remaining validity); a missing table, bad
 * credentials and validation errors are not retryable. A `LeaseError` passes through.
 *
 * A `ConditionalCheckFailedException` normally never gets here (the backend reads the item it
 * returns); if it does, it means "not the holder".
 */
export function classifyError(cause: unknown, operation: LeaseOperation, key?: string): LeaseError {
  if (cause instanceof LeaseError) return cause;
  const options = { backend: BACKEND, operation, key, cause };
  const error = (typeof cause === 'object' && cause !== null ? cause : {}) as AwsErrorLike;
  const name = error.name ?? '';
  const code = error.code ?? '';
  const text = error.message ?? String(cause);
  const status = error.$metadata?.httpStatusCode;
  const label = name && name !== 'Error' ? `${name}: ${text}` : text;

  if (name === 'ConditionalCheckFailedException') {
    return new NotHolderError(`the condition on the lock item failed (${text})`, options);
  }
  if (name === 'ResourceNotFoundException') {
    return new BackendUnavailableError(
      `the lock table does not exist (create it with createLockTable() or see the README's schema): ${text}`,
      { ...options, retryable: false },
    );
  }
  if (THROTTLING.has(name) || error.$retryable?.throttling === true) {
    return new BackendUnavailableError(`throttled by DynamoDB (${label})`, options);
  }
  if (TIMEOUTS.has(name) || TIMEOUT_CODES.has(code)) {
    return new BackendUnavailableError(
      `no answer from DynamoDB (${label}); the write's outcome is unknown until the next attempt settles it`,
      options,
    );
  }
  if (NETWORK_CODES.has(code)) {
    return new BackendUnavailableError(`DynamoDB could not be reached (${label})`, options);
  }
  if (ACCESS.has(name)) {
    return new BackendUnavailableError(`DynamoDB refused the credentials (${label})`, {
      ...options,
      retryable: false,
    });
  }
  if (name === 'ValidationException' || name === 'SerializationException') {
    return new InvalidArgumentError(
      `DynamoDB rejected the request (${label}); check tableName and partitionKey against the table's schema`,
      options,
    );
  }
  if (TRANSIENT.has(name) || error.$fault === 'server' || (status !== undefined && status >= 500)) {
    return new BackendUnavailableError(`DynamoDB failed on its side (${label})`, options);
  }
  if (error.$fault === 'client' || (status !== undefined && status >= 400)) {
    return new BackendUnavailableError(`DynamoDB refused the request (${label})`, {
      ...options,
      retryable: false,
    });
  }
  // Anything else (a socket error without a code, an SDK-internal failure): treat as transient;
  // core bounds every retry by the wait or the lease's validity.
  return new BackendUnavailableError(`DynamoDB request failed (${label})`, options);
}

export function invalid(detail: string): InvalidArgumentError {
  return new InvalidArgumentError(detail, { backend: BACKEND, operation: 'configure' });
}
