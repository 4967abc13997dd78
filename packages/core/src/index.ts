export type {
  AcquireOutcome,
  AcquireRequest,
  AnyBackend,
  BackendCapabilities,
  HandOverOutcome,
  LeaseBackend,
  LeaseInfo,
  LeaseRef,
  RenewItem,
  RenewManyOutcome,
  RenewOutcome,
  TimeoutBackend,
} from './backend.js';
export { canRenew } from './backend.js';
export { type BackoffPolicy, backoffDelay } from './backoff.js';
export { type Duration, type DurationUnit, formatMs, toMs } from './duration.js';
export {
  AcquireTimeoutError,
  BackendUnavailableError,
  ClosedError,
  InvalidArgumentError,
  isLeaseError,
  LeaseError,
  type LeaseErrorCode,
  type LeaseErrorOptions,
  LeaseLostError,
  type LeaseLostReason,
  type LeaseOperation,
  type NodeOutcome,
  NotHolderError,
  QuorumNotReachedError,
  toLeaseError,
  UnauthorizedError,
  UnsupportedError,
} from './errors.js';
export type { LockerHooks } from './hooks.js';
export type { Lease, LeaseMode } from './lease.js';
export {
  type AcquireOptions,
  createLocker,
  type HoldingRef,
  type HoldingRenewal,
  type Locker,
  type LockerOptions,
  type RenewHoldingOptions,
  type RetryOptions,
  type TryAcquireOptions,
  type WithLeaseOptions,
} from './locker.js';
export { checkKey, checkTtl } from './validate.js';
