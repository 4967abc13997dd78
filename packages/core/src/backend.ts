/**
 * The backend SPI. A backend is mechanical: one round of I/O per call, no timers, no retries,
 * no scheduling. Waiting, backoff, renewal timing and loss detection live in the `Locker`.
 *
 * Times (`validUntil`) are on the process's monotonic clock, `performance.now()`.
 */

export interface BackendCapabilities {
  /** `tryAcquire` returns a `fence` that strictly increases across successive holders of a key. */
  readonly fencing: boolean;
  /** Smallest TTL the store accepts, in ms. */
  readonly minTtlMs: number;
  /** Largest finite TTL the store accepts, in ms. */
  readonly maxTtlMs: number;
  /** The store can hold a lease with no expiry (`ttl: Infinity`). Such a lease is never renewed. */
  readonly infiniteTtl: boolean;
  /** TTLs must be a whole multiple of this many ms (Azure leases: 1000). Default 1. */
  readonly ttlGranularityMs?: number;
  /**
   * Largest `renewFraction` a locker may use with this backend (DynamoDB: 0.5, so a lease is at
   * least twice the renew interval). Default: any fraction below 1.
   */
  readonly maxRenewFraction?: number;
  /** Longest key accepted, in UTF-16 code units. Default 1024. */
  readonly maxKeyLength?: number;
  /**
   * A `tryAcquire` called after `release()` has returned its promise is applied by the store
   * after that release (Redis: both go down the same ordered connection to each node). A waiter
   * in the same locker is then sent its attempt at once, in the release's round trip, instead
   * of one round trip after it. Default `false`: the waiter is woken when the release answers.
   */
  readonly orderedRelease?: boolean;
}

/** Identifies one holding of a key: the key and the holder's random token. */
export interface LeaseRef {
  readonly key: string;
  readonly token: string;
  readonly fence?: number | undefined;
}

export interface AcquireRequest {
  readonly key: string;
  /** Random, unique per `acquire` call (a UUID: Azure needs one). Reused across that call's retries. */
  readonly token: string;
  /** Milliseconds, within the capabilities' range, or `Infinity` when `infiniteTtl`. */
  readonly ttlMs: number;
  /** Optional description of the holder, stored where the backend can (returned by `inspect`). */
  readonly owner?: string | undefined;
  /**
   * How long the caller is still prepared to wait for a held key (ms; `Infinity` when it waits
   * until aborted). A backend that can wait in the store (a lock service) may hold the request up
   * to that long before answering; the others ignore it.
   */
  readonly waitMs?: number | undefined;
  /**
   * The caller's abort signal, for a backend whose request can wait (see `waitMs`): aborting it
   * should end that wait. The locker stops waiting for the answer on abort in any case, and gives
   * back a holding the request still takes.
   */
  readonly signal?: AbortSignal | undefined;
}

export type AcquireOutcome =
  | {
      readonly status: 'acquired';
      /** Fencing token, when `capabilities.fencing`. */
      readonly fence?: number | undefined;
      /**
       * The backend's own bound on validity (monotonic ms), when it knows better than
       * `sentAt + ttl - drift` (Redlock subtracts per-node elapsed time). The locker uses the smaller.
       */
      readonly validUntil?: number | undefined;
      /**
       * How long the store held the request before granting it (ms, measured by the store: see
       * `AcquireRequest.waitMs`). Validity counts from `sentAt + waitedMs`, capped at the round trip.
       */
      readonly waitedMs?: number | undefined;
    }
  | {
      readonly status: 'held';
      /** When the current holding will expire if not renewed, in ms from now, if the store says. */
      readonly retryAfterMs?: number | undefined;
    };

export type RenewOutcome =
  | { readonly status: 'renewed'; readonly validUntil?: number | undefined }
  | {
      readonly status: 'lost';
      readonly detail?: string | undefined;
      /** The store's own answer that said so (e.g. Azure's 409 `RestError`), kept as the loss's `cause`. */
      readonly cause?: unknown;
    };

/**
 * What `handOver` answers: the holding was extended (and, when fencing, a block of fences drawn
 * for its next holders), or it is no longer ours.
 */
export type HandOverOutcome =
  | {
      readonly status: 'renewed';
      /**
       * When `capabilities.fencing`: the highest fence of the block drawn. The block, `fence -
       * fences + 1` to `fence`, lies above every fence handed out for the key before and below
       * every fence handed out after.
       */
      readonly fence?: number | undefined;
      readonly validUntil?: number | undefined;
      /**
       * Someone else waits for the key, as far as the store can tell (Redis: a subscriber to its
       * release channel). `false` lets a run of local hand-overs go on with another block (for
       * at most `retry.max`), and its last holder give the key back to the store without the
       * courtesy pause for waiters elsewhere: answer `false` only if the store sees every kind
       * of waiter it serves; `undefined`: the store cannot tell.
       */
      readonly contended?: boolean | undefined;
    }
  | Extract<RenewOutcome, { status: 'lost' }>;

/** One item of a batched renewal: either an outcome or the error that item met. */
export type RenewManyOutcome = RenewOutcome | { readonly status: 'error'; readonly error: unknown };

export interface RenewItem {
  readonly lease: LeaseRef;
  readonly ttlMs: number;
}

export interface LeaseInfo {
  readonly key: string;
  readonly held: boolean;
  /** The holder's token, when the store exposes it. */
  readonly token?: string | undefined;
  /** The last fencing token handed out for this key. */
  readonly fence?: number | undefined;
  /** Remaining TTL as the store sees it. */
  readonly ttlRemainingMs?: number | undefined;
  /** What the holder passed as `owner`. */
  readonly owner?: string | undefined;
}

/** A store that can take and release a lock with a TTL, but not extend it. */
export interface TimeoutBackend {
  /** Short lowercase name used in errors and telemetry, e.g. `redis`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** One attempt. Throws a `LeaseError` (retryable or not) when the store fails. */
  tryAcquire(request: AcquireRequest): Promise<AcquireOutcome>;
  /** Compare-and-delete. `false`: this token no longer held the key. */
  release(lease: LeaseRef): Promise<boolean>;
  /** Reads the current holding of a key without changing it. */
  inspect?(key: string): Promise<LeaseInfo | null>;
  /**
   * A hint that `key` may have become free: resolves when it might have, or never. Must stop
   * listening and resolve or stay pending (not reject) once `signal` aborts. The locker waits
   * for it after an attempt (`tryAcquire` with `waitMs` > 0) found the key held, and attempts
   * again when it resolves; a backend may rely on that attempt to learn who waits (Redis wakes
   * only the waiter that registered first), and may resolve early when it cannot tell.
   */
  released?(key: string, signal: AbortSignal): Promise<void>;
  /**
   * Validates a key beyond the core's checks (length, non-empty); throws `InvalidArgumentError`
   * naming `operation`.
   */
  validateKey?(key: string, operation: string): void;
  /** Releases what the backend itself created (subscriptions, timers). Idempotent. */
  close(): Promise<void>;
}

/** A store that can also extend a held lease: what the lease lock and `withLease` need. */
export interface LeaseBackend extends TimeoutBackend {
  /** Compare-and-extend to `ttlMs` from now. `lost`: the token no longer holds the key. */
  renew(lease: LeaseRef, ttlMs: number): Promise<RenewOutcome>;
  /** Renews many leases in as few round trips as the store allows. Results align with `items`. */
  renewMany?(items: readonly RenewItem[]): Promise<readonly RenewManyOutcome[]>;
  /**
   * Optional: compare-and-extend to `ttlMs` from now, as `renew`, and, when fencing, draw a
   * block of `fences` fencing tokens in the same round of I/O (see `HandOverOutcome`). With it
   * the locker passes a holding from one of its callers to the next waiting ones without a
   * release and an acquire each (local hand-overs): it asks once, while the first holder still
   * works, and each release then costs no round trip. (The locker sends it only while no renewal
   * of that holding is in flight, and uses its answer only while no renewal was sent after it.)
   */
  handOver?(lease: LeaseRef, ttlMs: number, fences: number): Promise<HandOverOutcome>;
}

export type AnyBackend = TimeoutBackend | LeaseBackend;

export function canRenew(backend: AnyBackend): backend is LeaseBackend {
  return typeof (backend as Partial<LeaseBackend>).renew === 'function';
}

/** Calls a backend method, turning a synchronous throw into a rejection (backends are third-party code). */
export function callBackend<T>(call: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error);
  }
}
