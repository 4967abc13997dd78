/**
 * Typed errors. Every error leasekit raises is a `LeaseError` with a stable `code`, a
 * `retryable` flag, and, when a store or SDK failed, the original error as `cause`.
 * Match on `code` (or `instanceof`), never on `name` or message text.
 *
 * Two installed copies of core (a backend that brings its own, a bundled app) each have their own
 * classes, so a plain prototype check would not know the other copy's errors. Every `LeaseError`
 * carries a registry symbol (`Symbol.for`, shared by every copy in the process), and
 * `instanceof` and `isLeaseError` accept an error that carries it.
 */

/** The brand on every `LeaseError`'s prototype: one symbol for every copy of core in a process. */
const BRAND = Symbol.for('leasekit.LeaseError');

export type LeaseErrorCode =
  | 'ACQUIRE_TIMEOUT'
  | 'LEASE_LOST'
  | 'NOT_HOLDER'
  | 'BACKEND_UNAVAILABLE'
  | 'QUORUM_NOT_REACHED'
  | 'INVALID_ARGUMENT'
  | 'UNSUPPORTED'
  | 'UNAUTHORIZED'
  | 'CLOSED';

export type LeaseOperation =
  | 'acquire'
  | 'renew'
  | 'release'
  | 'inspect'
  | 'close'
  | 'configure'
  | (string & {});

export interface LeaseErrorOptions {
  /** Name of the backend involved, e.g. `redis` (shown in the message). */
  readonly backend?: string | undefined;
  readonly operation?: LeaseOperation | undefined;
  readonly key?: string | undefined;
  readonly cause?: unknown;
  /** Overrides the code's default. */
  readonly retryable?: boolean | undefined;
}

const retryableByDefault: Record<LeaseErrorCode, boolean> = {
  ACQUIRE_TIMEOUT: true,
  LEASE_LOST: false,
  NOT_HOLDER: false,
  BACKEND_UNAVAILABLE: true,
  QUORUM_NOT_REACHED: true,
  INVALID_ARGUMENT: false,
  UNSUPPORTED: false,
  UNAUTHORIZED: false,
  CLOSED: false,
};

function formatMessage(detail: string, options: LeaseErrorOptions): string {
  let prefix = '[leasekit]';
  if (options.backend) prefix += ` [${options.backend}]`;
  if (options.operation) prefix += ` ${options.operation}`;
  if (options.key !== undefined) prefix += ` ${JSON.stringify(options.key)}`;
  return `${prefix}: ${detail}`;
}

/** The class each code is raised as (a branded error of another copy is an instance of it by code). */
const classCodes = new Map<unknown, LeaseErrorCode>();

function branded(value: unknown): value is LeaseError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}

export class LeaseError extends Error {
  readonly code: LeaseErrorCode;
  readonly retryable: boolean;
  readonly backend: string | undefined;
  readonly operation: LeaseOperation | undefined;
  readonly key: string | undefined;

  constructor(code: LeaseErrorCode, detail: string, options: LeaseErrorOptions = {}) {
    super(formatMessage(detail, options), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? retryableByDefault[code];
    this.backend = options.backend;
    this.operation = options.operation;
    this.key = options.key;
  }
}
// On the prototype: not an own field, so it is neither enumerated nor serialised.
Object.defineProperty(LeaseError.prototype, BRAND, { value: true });
/**
 * `instanceof` across copies of core: an object of the class's prototype chain, or a branded
 * `LeaseError` of another copy (for one of core's subclasses, one carrying its code). Subclasses
 * inherit it. Defined here rather than as a static method so that TypeScript narrows
 * `instanceof` to the class on the right as usual.
 */
Object.defineProperty(LeaseError, Symbol.hasInstance, {
  value: function hasInstance(this: unknown, value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!branded(value)) return false;
    if (this === LeaseError) return true;
    // An error of this copy is judged by its class alone: a plain `LeaseError` carrying a
    // subclass's code is not that subclass (it lacks the subclass's fields).
    if (Function.prototype[Symbol.hasInstance].call(LeaseError, value)) return false;
    const code = classCodes.get(this);
    return code !== undefined && value.code === code;
  },
});

/** `acquire` could not get the lock within its `wait`: someone else held it throughout. */
export class AcquireTimeoutError extends LeaseError {
  readonly waitedMs: number;
  readonly attempts: number;
  constructor(detail: string, options: LeaseErrorOptions & { waitedMs: number; attempts: number }) {
    super('ACQUIRE_TIMEOUT', detail, options);
    this.waitedMs = options.waitedMs;
    this.attempts = options.attempts;
  }
}

export type LeaseLostReason =
  /** A timeout lock reached its local deadline (it is never renewed). */
  | 'expired'
  /** The store said someone else holds the key now, or nobody does. */
  | 'taken'
  /** Renewals kept failing (store unreachable) until too little validity was left to keep trying. */
  | 'renewal-failed'
  /** A renewal answered too late to be trusted: the lease may have expired meanwhile. */
  | 'late-renewal'
  /** The locker was closed while the lease was held. */
  | 'closed';

/** The lease is no longer held, or can no longer be trusted to be. Raised as `lease.signal.reason`. */
export class LeaseLostError extends LeaseError {
  readonly reason: LeaseLostReason;
  constructor(reason: LeaseLostReason, detail: string, options: LeaseErrorOptions = {}) {
    super('LEASE_LOST', detail, options);
    this.reason = reason;
  }
}

/** An operation that needs the lease was attempted by someone who does not hold it. */
export class NotHolderError extends LeaseError {
  constructor(detail: string, options: LeaseErrorOptions = {}) {
    super('NOT_HOLDER', detail, options);
  }
}

/** The store could not be reached or failed; `cause` is the store's own error. */
export class BackendUnavailableError extends LeaseError {
  constructor(detail: string, options: LeaseErrorOptions = {}) {
    super('BACKEND_UNAVAILABLE', detail, options);
  }
}

/** How one node of a quorum answered. */
export interface NodeOutcome {
  readonly node: string;
  readonly outcome: 'ok' | 'held' | 'error' | 'timeout' | 'not-holder';
  readonly error?: unknown;
}

/** A quorum store (Redlock) could not get a majority; `nodes` says what each node answered. */
export class QuorumNotReachedError extends LeaseError {
  readonly nodes: readonly NodeOutcome[];
  readonly quorum: number;
  constructor(
    detail: string,
    options: LeaseErrorOptions & { nodes: readonly NodeOutcome[]; quorum: number },
  ) {
    super('QUORUM_NOT_REACHED', detail, options);
    this.nodes = options.nodes;
    this.quorum = options.quorum;
  }
}

/** Bad input, rejected before any I/O; the message names what is allowed. */
export class InvalidArgumentError extends LeaseError {
  constructor(detail: string, options: LeaseErrorOptions = {}) {
    super('INVALID_ARGUMENT', detail, options);
  }
}

/** The backend cannot do what was asked (e.g. renew, on a timeout-lock backend). */
export class UnsupportedError extends LeaseError {
  constructor(detail: string, options: LeaseErrorOptions = {}) {
    super('UNSUPPORTED', detail, options);
  }
}

/** The store (or a lock service in front of it) refused the caller's credentials. */
export class UnauthorizedError extends LeaseError {
  constructor(detail: string, options: LeaseErrorOptions = {}) {
    super('UNAUTHORIZED', detail, options);
  }
}

/** The locker or backend was closed. */
export class ClosedError extends LeaseError {
  constructor(detail: string, options: LeaseErrorOptions = {}) {
    super('CLOSED', detail, options);
  }
}

classCodes.set(AcquireTimeoutError, 'ACQUIRE_TIMEOUT');
classCodes.set(LeaseLostError, 'LEASE_LOST');
classCodes.set(NotHolderError, 'NOT_HOLDER');
classCodes.set(BackendUnavailableError, 'BACKEND_UNAVAILABLE');
classCodes.set(QuorumNotReachedError, 'QUORUM_NOT_REACHED');
classCodes.set(InvalidArgumentError, 'INVALID_ARGUMENT');
classCodes.set(UnsupportedError, 'UNSUPPORTED');
classCodes.set(UnauthorizedError, 'UNAUTHORIZED');
classCodes.set(ClosedError, 'CLOSED');

/**
 * True when `error` is a `LeaseError` (of this copy of core or of another one installed beside
 * it), optionally of the given code.
 */
export function isLeaseError(error: unknown, code?: LeaseErrorCode): error is LeaseError {
  return error instanceof LeaseError && (code === undefined || error.code === code);
}

/**
 * Wraps anything a backend threw into a `LeaseError`. A `LeaseError` passes through; anything
 * else is treated as an unavailable store (retryable), keeping the original as `cause`.
 */
export function toLeaseError(error: unknown, options: LeaseErrorOptions): LeaseError {
  if (error instanceof LeaseError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new BackendUnavailableError(detail, { ...options, cause: error });
}
