import { randomUUID } from 'node:crypto';
import {
  type AcquireOutcome,
  type AnyBackend,
  callBackend,
  canRenew,
  type LeaseInfo,
  type LeaseRef,
  type RenewOutcome,
} from './backend.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import { Deadlines } from './deadlines.js';
import { type Duration, formatMs } from './duration.js';
import {
  AcquireTimeoutError,
  BackendUnavailableError,
  ClosedError,
  InvalidArgumentError,
  type LeaseError,
  LeaseLostError,
  toLeaseError,
  UnsupportedError,
} from './errors.js';
import { callHook, type LockerHooks } from './hooks.js';
import { type Lease, LeaseHandle, type LeaseMode, type LeaseOwner, type PendingHandOver } from './lease.js';
import { lossMargin, RenewalOrchestrator, type Timing, validityDeadline } from './orchestrator.js';
import { Roster } from './roster.js';
import { endSpan, loadTracer, type SpanLike, startSpan, type TracerLike } from './tracing.js';
import {
  checkCount,
  checkDuration,
  checkFraction,
  checkKey,
  checkLossMargin,
  checkSignal,
  checkToken,
  checkTtl,
} from './validate.js';
import { WaitQueues, type WaitTicket } from './wait-queue.js';

export interface RetryOptions {
  /** First backoff step. Default `'25ms'`. */
  readonly initial?: Duration;
  /** Largest backoff step. Default `'1s'`. */
  readonly max?: Duration;
  /** Largest random amount taken off a step. Default: the whole step (full jitter). */
  readonly maxJitter?: Duration;
}

export interface LockerOptions {
  /** Default TTL. Default `'30s'`. */
  readonly ttl?: Duration;
  /** Default time `acquire` waits for a held key. Default `'10s'`; `Infinity` waits until `signal` aborts. */
  readonly wait?: Duration;
  /** Default mode of `acquire`/`tryAcquire`. Default `'timeout'` (`withLease` always uses `'lease'`). */
  readonly mode?: LeaseMode;
  /** Backoff between attempts while waiting (the seed SDK's `initial`/`max`/`maxJitter`). */
  readonly retry?: RetryOptions;
  /** Renew a lease when this fraction of its TTL has passed. Default `1/3`. */
  readonly renewFraction?: number;
  /** Clock drift allowance subtracted from validity: `ttl * factor + fixed`. Default `0.01` and `'2ms'`. */
  readonly clockDrift?: { readonly factor?: number; readonly fixed?: Duration };
  /**
   * Declare loss this long before the local deadline; more than 0. Default: 5% of the TTL, between
   * 20 ms (event-loop jitter) and 1 s, and at most a quarter of the TTL.
   */
  readonly lossMargin?: Duration;
  /** Renewals due within this window go out together. Default `'25ms'`. */
  readonly renewBatchWindow?: Duration;
  /** Longest a release may hold up its caller; after that the lease is left to expire. Default `'2s'`. */
  readonly releaseTimeout?: Duration;
  /** Stored with each lease where the backend can (shown by `inspect`). */
  readonly owner?: string;
  readonly hooks?: LockerHooks;
  /** Emit OpenTelemetry spans when `@opentelemetry/api` is installed. Default `true`. */
  readonly tracing?: boolean;
  /** `close()` also closes the backend. Default `true`. */
  readonly closeBackend?: boolean;
  /**
   * Local hand-overs: when a caller of this locker waits for a key another caller of it holds,
   * and the backend has `handOver`, the holding is extended and the next fence drawn while the
   * holder works; its release then passes the holding to the waiter with no round trip (a new
   * fence, the waiter's TTL counted from that request). One request serves a block of at most
   * this many successive holders; then the key is released in the store, so other processes get
   * their turn, unless the store said that nobody else waits for it (Redis with release
   * notifications, memory): then the run goes on with another request, and ends at the first
   * one whose answer says somebody else waits, or once it has lasted `retry.max` (for waiters
   * the store cannot see). Default `16`; `0` turns it off; at most 1024.
   */
  readonly localHandOvers?: number;
  /**
   * The holdings this locker takes may be renewed or released by other processes, by key and
   * token (`renewHolding`, `releaseHolding`): a stateless lock service, where any instance serves
   * any lease. Its waiters then never count on a key it holds staying held: they keep polling
   * the store and listening for its release. It does not track what it grants: those leases get
   * no renewal, loss signal or `close()` release, and do not count in `heldCount` (renew and
   * release them by reference, or `lease.release()`). Local hand-overs are off (they pass one
   * store token from holder to holder, and a token is the credential). Default `false`.
   */
  readonly sharedHoldings?: boolean;
}

export interface AcquireOptions {
  readonly ttl?: Duration;
  /** How long to wait for a held key (`0`: one attempt). */
  readonly wait?: Duration;
  readonly signal?: AbortSignal;
  readonly mode?: LeaseMode;
  readonly owner?: string;
  /** Called once if the lease is lost (also signalled through `lease.signal`). */
  readonly onLost?: (error: LeaseLostError) => void;
  /**
   * The store token to acquire with, instead of a random one: a repeated acquire with the same
   * token answers the same holding (same fence, TTL reset), which makes a retried request
   * idempotent (a lock service derives it from an `Idempotency-Key`). It must be as unguessable
   * as a random UUID. A holding taken under it is never given back by the locker on its own
   * (after an abort, an attempt with no answer, or a grant whose round trip ate its validity): the
   * caller's retry may hold that very holding. It is released by its holder, or expires by its
   * TTL. A holding handed over locally keeps its own token (see `localHandOvers`).
   */
  readonly token?: string;
}

/** A holding known only by its key and token (and fence), e.g. taken by another process. */
export type HoldingRef = LeaseRef;

export interface RenewHoldingOptions {
  /** Extend to this TTL from now. Default: the locker's `ttl`. */
  readonly ttl?: Duration;
}

export interface HoldingRenewal {
  readonly key: string;
  /** The holding's fence, when known (`ref.fence`, or this locker's own lease's). */
  readonly fence: number | undefined;
  readonly ttlMs: number;
  /** Wall-clock estimate (epoch ms) of the local deadline: never later than the store's expiry. */
  readonly expiresAt: number;
}

export type TryAcquireOptions = Omit<AcquireOptions, 'wait'>;
export type WithLeaseOptions = Omit<AcquireOptions, 'mode'>;

export interface Locker {
  readonly backend: AnyBackend;
  /** Takes the lock, waiting up to `wait` with backoff; rejects with `AcquireTimeoutError` if it stays held. */
  acquire(key: string, options?: AcquireOptions): Promise<Lease>;
  /** One attempt: the lease, or `null` when someone else holds the key. */
  tryAcquire(key: string, options?: TryAcquireOptions): Promise<Lease | null>;
  /**
   * Lease lock around `routine`: acquired, renewed while it runs, released after (even on throw).
   * `signal` aborts if the lease is lost; the call then rejects with the `LeaseLostError`
   * unless the routine itself threw, whose error always wins.
   */
  withLease<T>(
    key: string,
    routine: (signal: AbortSignal, lease: Lease) => Promise<T> | T,
    options?: WithLeaseOptions,
  ): Promise<T>;
  /** Timeout lock around `routine`: never renewed; `signal` aborts when the TTL is about to run out. */
  withLock<T>(
    key: string,
    routine: (signal: AbortSignal, lease: Lease) => Promise<T> | T,
    options?: WithLeaseOptions,
  ): Promise<T>;
  /**
   * Extends a holding known only by key and token: one a stateless service or another process
   * took, with no `Lease` object at hand. Through this locker's own lease when it holds that
   * token, else straight to the store. Rejects with `LeaseLostError` when the token no longer
   * holds the key.
   */
  renewHolding(ref: HoldingRef, options?: RenewHoldingOptions): Promise<HoldingRenewal>;
  /**
   * Releases a holding known only by key and token (see `renewHolding`): `false` when the token
   * no longer held the key. Waiters of this locker for the key are woken.
   */
  releaseHolding(ref: HoldingRef): Promise<boolean>;
  /** The store's view of a key, when the backend can tell. */
  inspect(key: string): Promise<LeaseInfo | null>;
  /** Leases this locker holds now. */
  readonly heldCount: number;
  /** Releases every held lease (bounded by `releaseTimeout`), stops renewals and closes the backend. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Resolved {
  ttlMs: number;
  waitMs: number;
  mode: LeaseMode;
  backoff: BackoffPolicy;
  releaseTimeoutMs: number;
  localHandOvers: number;
  timing: Timing;
}

/** The store answered a hand-over request saying that nobody else waits for the key. */
function uncontended(block: PendingHandOver): boolean {
  return block.outcome?.status === 'renewed' && block.outcome.contended === false;
}

/** Largest `localHandOvers`: a block draws that many fences from the store's counter at once. */
const MAX_LOCAL_HAND_OVERS = 1024;

/** Longest a run's last holder makes this locker's next waiter wait after the release's answer. */
const MAX_YIELD_MS = 50;

/** Creates the user-facing locker over any backend. */
export function createLocker(backend: AnyBackend, options: LockerOptions = {}): Locker {
  return new LockerImpl(backend, options);
}

class LockerImpl implements Locker, LeaseOwner {
  readonly backend: AnyBackend;
  readonly #options: LockerOptions;
  readonly #defaults: Resolved;
  readonly #orchestrator: RenewalOrchestrator;
  readonly #held = new Roster<LeaseHandle>('heldSlot');
  /**
   * Store requests still in flight that close() must let finish (attempts, give-backs): a count
   * and who waits for it to reach 0, not a set of promises (see `Roster` for why not a Set).
   */
  #pending = 0;
  #drained: (() => void)[] = [];
  /** Waiters per key, and this locker's current holding of each key. */
  readonly #waiters: WaitQueues<LeaseHandle, Prepared>;
  /** The `releaseTimeout` of every release, behind one timer. */
  readonly #releaseDeadlines: Deadlines;
  #tracer: TracerLike | undefined;
  #tracerReady: Promise<unknown> | undefined;
  #closed = false;
  /** `sharedHoldings`: other processes may release or renew what this locker holds. */
  readonly #shared: boolean;

  constructor(backend: AnyBackend, options: LockerOptions) {
    if (!backend || typeof backend.tryAcquire !== 'function' || typeof backend.release !== 'function') {
      throw new InvalidArgumentError('createLocker needs a backend with tryAcquire() and release()', {
        operation: 'configure',
      });
    }
    this.backend = backend;
    this.#options = options;
    this.#shared = options.sharedHoldings === true;
    if (this.#shared && (options.localHandOvers ?? 0) > 0) {
      throw new InvalidArgumentError(
        'localHandOvers must be 0 with sharedHoldings (a hand-over passes one store token to the next holder)',
        { backend: backend.name, operation: 'configure' },
      );
    }
    this.#waiters = new WaitQueues<LeaseHandle, Prepared>(
      backend,
      (holder, next) => {
        try {
          if (next.request) this.#prepareHandOver(holder, next.request);
        } catch {
          // Runs as the new holder's acquire returns, which must not fail over it: the next waiter
          // looks for itself instead, and meets the error in its own acquire.
          next.rouse();
        }
      },
      { holdersOwnTheKey: !this.#shared },
    );
    const mode = options.mode ?? 'timeout';
    if (mode !== 'timeout' && mode !== 'lease') {
      throw new InvalidArgumentError(`mode must be 'timeout' or 'lease'; got ${String(mode)}`, {
        operation: 'configure',
      });
    }
    const op = 'configure';
    const retry = options.retry ?? {};
    this.#defaults = {
      ttlMs: checkTtl(backend, options.ttl ?? '30s', op),
      waitMs: checkDuration(backend, options.wait ?? '10s', 'wait', op, true),
      mode,
      backoff: {
        initialMs: checkDuration(backend, retry.initial ?? '25ms', 'retry.initial', op),
        maxMs: checkDuration(backend, retry.max ?? '1s', 'retry.max', op),
        maxJitterMs: checkDuration(backend, retry.maxJitter ?? Infinity, 'retry.maxJitter', op, true),
      },
      releaseTimeoutMs: checkDuration(backend, options.releaseTimeout ?? '2s', 'releaseTimeout', op),
      localHandOvers: checkCount(
        options.localHandOvers ?? (this.#shared ? 0 : 16),
        'localHandOvers',
        op,
        MAX_LOCAL_HAND_OVERS,
      ),
      timing: {
        driftFactor: options.clockDrift?.factor ?? 0.01,
        driftFixedMs: checkDuration(backend, options.clockDrift?.fixed ?? 2, 'clockDrift.fixed', op),
        renewFraction: checkFraction(options.renewFraction ?? 1 / 3, 'renewFraction', 0, 1),
        lossMarginMs:
          options.lossMargin === undefined ? undefined : checkLossMargin(backend, options.lossMargin),
        batchWindowMs: checkDuration(backend, options.renewBatchWindow ?? 25, 'renewBatchWindow', op),
      },
    };
    const driftFactor: unknown = this.#defaults.timing.driftFactor;
    if (typeof driftFactor !== 'number' || !(driftFactor >= 0 && driftFactor < 0.5)) {
      throw new InvalidArgumentError(
        `clockDrift.factor must be >= 0 and < 0.5; got ${this.#defaults.timing.driftFactor}`,
        { operation: op },
      );
    }
    const maxRenewFraction = backend.capabilities.maxRenewFraction;
    if (maxRenewFraction !== undefined && this.#defaults.timing.renewFraction > maxRenewFraction) {
      throw new InvalidArgumentError(
        `renewFraction must be at most ${maxRenewFraction} for the ${backend.name} backend (a lease must last at least ${+(1 / maxRenewFraction).toFixed(2)} renew intervals); got ${+this.#defaults.timing.renewFraction.toFixed(4)}`,
        { backend: backend.name, operation: op },
      );
    }
    if (mode === 'lease' && !canRenew(backend)) throw this.#cannotRenew(op);
    this.#releaseDeadlines = new Deadlines(this.#defaults.releaseTimeoutMs);
    this.#orchestrator = new RenewalOrchestrator({
      backend,
      timing: this.#defaults.timing,
      hooks: options.hooks,
      tracer: () => this.#tracer,
      lost: (handle, error) => this.#onLost(handle, error),
    });
    if (options.tracing !== false) {
      this.#tracerReady = loadTracer().then((tracer) => {
        this.#tracer = tracer;
        this.#tracerReady = undefined;
      });
    }
  }

  get heldCount(): number {
    return this.#held.size;
  }

  // Not `async`: the promise returned is the acquire loop's own (one async layer fewer per acquire).
  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    let request: Prepared;
    let waitMs: number;
    try {
      request = this.#prepare(key, options, 'acquire');
      waitMs =
        options.wait === undefined
          ? this.#defaults.waitMs
          : checkDuration(this.backend, options.wait, 'wait', 'acquire', true);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#traced('acquire', key, request.mode, () => this.#acquireLoop(request, waitMs));
  }

  tryAcquire(key: string, options: TryAcquireOptions = {}): Promise<Lease | null> {
    let request: Prepared;
    try {
      request = this.#prepare(key, options, 'acquire');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#traced('acquire', key, request.mode, async () => {
      const start = performance.now();
      const result = await this.#attempt(request, 1, start);
      if (result.kind === 'acquired') return result.lease;
      if (result.kind === 'error') throw this.#givingUp(request, result);
      return null;
    });
  }

  withLease<T>(
    key: string,
    routine: (signal: AbortSignal, lease: Lease) => Promise<T> | T,
    options: WithLeaseOptions = {},
  ): Promise<T> {
    return this.#withHeld(key, routine, { ...options, mode: 'lease' });
  }

  withLock<T>(
    key: string,
    routine: (signal: AbortSignal, lease: Lease) => Promise<T> | T,
    options: WithLeaseOptions = {},
  ): Promise<T> {
    return this.#withHeld(key, routine, { ...options, mode: 'timeout' });
  }

  async renewHolding(ref: HoldingRef, options: RenewHoldingOptions = {}): Promise<HoldingRenewal> {
    const { key, token } = this.#checkRef(ref, 'renew');
    if (!canRenew(this.backend)) throw this.#cannotRenew('renew');
    const ttlMs =
      options.ttl === undefined ? this.#defaults.ttlMs : checkTtl(this.backend, options.ttl, 'renew');
    if (ttlMs === Infinity) {
      throw new InvalidArgumentError('a lease cannot be renewed to an infinite TTL', {
        backend: this.backend.name,
        operation: 'renew',
      });
    }
    const own = this.#ownHolding(key, token);
    if (own) {
      await this.#orchestrator.renewNow(own, ttlMs);
      return { key, fence: own.fence, ttlMs, expiresAt: own.expiresAt };
    }
    const backend = this.backend;
    const sentAt = performance.now();
    let outcome: RenewOutcome;
    try {
      outcome = await callBackend(() => backend.renew({ key, token, fence: ref.fence }, ttlMs));
    } catch (error) {
      throw toLeaseError(error, { backend: backend.name, operation: 'renew', key });
    }
    if (outcome.status === 'lost') {
      throw new LeaseLostError('taken', outcome.detail ?? 'the token no longer holds the key', {
        backend: backend.name,
        operation: 'renew',
        key,
        cause: outcome.cause,
      });
    }
    const deadline = validityDeadline(this.#defaults.timing, sentAt, ttlMs, outcome.validUntil);
    return { key, fence: ref.fence, ttlMs, expiresAt: Date.now() + (deadline - performance.now()) };
  }

  async releaseHolding(ref: HoldingRef): Promise<boolean> {
    const { key, token } = this.#checkRef(ref, 'release');
    const own = this.#ownHolding(key, token);
    if (own) return own.release();
    const released = await this.#releaseWithin(key, token, ref.fence);
    // Held elsewhere until now: this locker's waiters for the key try again at once.
    if (released) this.#waiters.wake(key);
    return released;
  }

  async inspect(key: string): Promise<LeaseInfo | null> {
    checkKey(this.backend, key, 'inspect');
    if (!this.backend.inspect) {
      throw new UnsupportedError('this backend cannot inspect keys', {
        backend: this.backend.name,
        operation: 'inspect',
      });
    }
    try {
      return await this.backend.inspect(key);
    } catch (error) {
      throw toLeaseError(error, { backend: this.backend.name, operation: 'inspect', key });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.abortAll(
      new ClosedError('the locker was closed while waiting', {
        backend: this.backend.name,
        operation: 'acquire',
      }),
    );
    const held = this.#held.values();
    for (const handle of held) {
      const error = new LeaseLostError('closed', 'the locker was closed', {
        backend: this.backend.name,
        key: handle.key,
      });
      // Signal, onLost and the `lost` hook, as for any other loss; the release follows below.
      if (handle.markLost(error)) this.#onLost(handle, error);
    }
    this.#orchestrator.stop();
    await Promise.all(held.map((handle) => this.releaseLease(handle).catch(() => false)));
    // Attempts still in flight may yet be granted (and are then given back): let them finish,
    // then the give-backs they start, each within the release bound, so close() never strands a
    // lock on a backend it closed.
    for (let pass = 0; pass < 2 && this.#pending > 0; pass++) {
      await settleWithin(this.#whenDrained(), this.#defaults.releaseTimeoutMs);
    }
    if (this.#options.closeBackend !== false) await this.backend.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- LeaseOwner: what lease handles call back into ----

  async renewLease(handle: LeaseHandle, ttl: Duration | undefined): Promise<void> {
    if (!canRenew(this.backend)) throw this.#cannotRenew('renew');
    const ttlMs = ttl === undefined ? handle.ttlMs : checkTtl(this.backend, ttl, 'renew');
    if (ttlMs === Infinity) {
      throw new InvalidArgumentError('a lease cannot be renewed to an infinite TTL', {
        backend: this.backend.name,
        operation: 'renew',
      });
    }
    await this.#orchestrator.renewNow(handle, ttlMs);
  }

  releaseLease(handle: LeaseHandle): Promise<boolean> {
    if (handle.state === 'released') return handle.releasing ?? Promise.resolve(false);
    const next = handle.state === 'held' ? handle.next : undefined;
    handle.state = 'released';
    this.#orchestrator.untrack(handle);
    this.#held.delete(handle);
    const taker = next && next.outcome === undefined ? this.#takerOf(handle, next) : undefined;
    const usableFor = taker ? this.#usableUntil(next!, taker.request!) - performance.now() : 0;
    if (usableFor > 0) {
      // The hand-over is on its way and the next waiter can take it: wait for the answer (as
      // long as it could still be used, and at most half the release bound).
      handle.releasing = this.#passOn(
        handle,
        next!,
        Math.min(usableFor, this.#defaults.releaseTimeoutMs / 2),
      );
      // It may still release in the store: close() lets it finish before closing the backend.
      this.#inFlight(handle.releasing);
    } else if (next && this.#handOver(handle, next, performance.now())) {
      handle.releasing = Promise.resolve(true);
    } else {
      this.#waiters.unhold(handle.key, handle);
      handle.releasing = this.#release(handle);
    }
    return handle.releasing;
  }

  checkLease(handle: LeaseHandle): void {
    this.#orchestrator.check(handle);
  }

  // ---- internals ----

  #checkRef(ref: HoldingRef, operation: string): HoldingRef {
    if (this.#closed)
      throw new ClosedError('the locker is closed', { backend: this.backend.name, operation });
    if (ref === null || typeof ref !== 'object') {
      throw new InvalidArgumentError('the holding must be an object { key, token, fence? }', {
        backend: this.backend.name,
        operation,
      });
    }
    checkKey(this.backend, ref.key, operation);
    checkToken(this.backend, ref.token, operation);
    if (ref.fence !== undefined && !Number.isSafeInteger(ref.fence)) {
      throw new InvalidArgumentError(`fence must be a safe integer when given; got ${String(ref.fence)}`, {
        backend: this.backend.name,
        operation,
      });
    }
    return ref;
  }

  /** This locker's own lease on `key` under `token`, while it is held. */
  #ownHolding(key: string, token: string): LeaseHandle | undefined {
    const holder = this.#waiters.holder(key);
    return holder && holder.state === 'held' && holder.token === token ? holder : undefined;
  }

  #cannotRenew(operation: string): UnsupportedError {
    return new UnsupportedError(
      `this backend cannot renew leases (it is a timeout-lock backend); use mode 'timeout' / withLock, or a backend with renew()`,
      { backend: this.backend.name, operation },
    );
  }

  #prepare(key: string, options: AcquireOptions, operation: string): Prepared {
    if (this.#closed)
      throw new ClosedError('the locker is closed', { backend: this.backend.name, operation, key });
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options must be an object', { backend: this.backend.name, operation });
    }
    checkKey(this.backend, key, operation);
    const mode = options.mode ?? this.#defaults.mode;
    if (mode !== 'timeout' && mode !== 'lease') {
      throw new InvalidArgumentError(`mode must be 'timeout' or 'lease'; got ${String(mode)}`, {
        backend: this.backend.name,
        operation,
      });
    }
    if (mode === 'lease' && !canRenew(this.backend)) throw this.#cannotRenew(operation);
    const ttlMs =
      options.ttl === undefined ? this.#defaults.ttlMs : checkTtl(this.backend, options.ttl, operation);
    if (mode === 'lease' && ttlMs === Infinity) {
      throw new InvalidArgumentError("an infinite TTL is for timeout-less use only: use mode 'timeout'", {
        backend: this.backend.name,
        operation,
      });
    }
    const signal = checkSignal(options.signal, operation);
    if (options.onLost !== undefined && typeof options.onLost !== 'function') {
      throw new InvalidArgumentError('onLost must be a function', { backend: this.backend.name, operation });
    }
    if (options.token !== undefined) checkToken(this.backend, options.token, operation);
    signal?.throwIfAborted();
    return {
      key,
      mode,
      ttlMs,
      signal,
      token: options.token ?? '',
      tokenGiven: options.token !== undefined,
      owner: options.owner ?? this.#options.owner,
      onLost: options.onLost,
      startedAt: 0,
      giveUpAt: 0,
      attempts: 0,
    };
  }

  /** Runs `run` in a span, once the tracer is loaded. */
  #traced<T>(operation: string, key: string, mode: LeaseMode, run: () => Promise<T>): Promise<T> {
    if (this.#tracerReady) return this.#tracerReady.then(() => this.#traced(operation, key, mode, run));
    let span: SpanLike | undefined;
    try {
      span = this.#tracer?.startSpan(`leasekit.${operation}`, {
        attributes: { 'leasekit.backend': this.backend.name, 'leasekit.key': key, 'leasekit.mode': mode },
      });
      // The API with no SDK registered (or a sampler that drops it) gives a span that records
      // nothing: no need to wait for the result to annotate it.
      if (!span || span.isRecording?.() === false) return run();
    } catch (error) {
      return Promise.reject(error); // a rejection, as from an async function
    }
    return this.#inSpan(span, run);
  }

  async #inSpan<T>(span: SpanLike, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      endSpan(span, undefined, { 'leasekit.acquired': result !== null });
      return result;
    } catch (error) {
      endSpan(span, error);
      throw error;
    }
  }

  async #acquireLoop(request: Prepared, waitMs: number): Promise<Lease> {
    if (waitMs === 0) {
      const result = await this.#attempt(request, 1, performance.now());
      if (result.kind === 'acquired') return result.lease;
      if (result.kind === 'error') throw this.#givingUp(request, result);
      throw this.#timeout(request, waitMs, 1, 0);
    }
    const start = performance.now();
    request.startedAt = start;
    const giveUpAt = start + waitMs;
    request.giveUpAt = giveUpAt;
    const ticket = this.#waiters.join(request.key, request);
    let acquired = false;
    try {
      for (;;) {
        // A holding handed over by a release of this locker while we slept (`grant`): ours,
        // whatever else happened since.
        if (ticket.granted) {
          acquired = true;
          return this.#taken(ticket.granted);
        }
        // Behind other waiters of this locker: wait for the turn (the head polls the store, not us).
        if (!ticket.isHead) {
          const remaining = giveUpAt - performance.now();
          if (remaining <= 0)
            throw this.#timeout(request, waitMs, request.attempts, performance.now() - start);
          await ticket.wait(remaining, request.signal);
          continue;
        }
        if (this.#closed) {
          throw new ClosedError('the locker was closed while waiting', {
            backend: this.backend.name,
            operation: 'acquire',
            key: request.key,
          });
        }
        const local = this.#shared ? undefined : this.#waiters.holder(request.key);
        if (local) {
          // Held by this very locker: an attempt could only fail. Have the holding made ready
          // to pass on, and sleep until its release (or loss) wakes us or hands it over.
          this.#prepareHandOver(local, request);
          const now = performance.now();
          const remaining = giveUpAt - now;
          if (remaining <= 0) throw this.#timeout(request, waitMs, request.attempts, now - start);
          // (A holder being passed on is decided when its hand-over answers: that wakes us.)
          const until = local.state === 'held' ? Math.max(1, local.lossAt - now) : remaining;
          await ticket.wait(Math.min(remaining, until), request.signal);
          continue;
        }
        const result = await this.#attempt(request, ++request.attempts, start);
        if (result.kind === 'acquired') {
          acquired = true;
          return result.lease;
        }
        if (result.kind === 'error' && !result.error.retryable) throw this.#givingUp(request, result);
        const remaining = giveUpAt - performance.now();
        if (remaining <= 0) {
          if (result.kind === 'error') throw this.#givingUp(request, result);
          throw this.#timeout(request, waitMs, request.attempts, performance.now() - start);
        }
        const retryAfterMs = result.kind === 'held' ? result.retryAfterMs : undefined;
        const delay = this.#pollDelay(request.key, request.attempts - 1, retryAfterMs, remaining);
        await ticket.wait(delay, request.signal);
      }
    } finally {
      ticket.leave(acquired);
    }
  }

  /** How long to sleep before the next attempt, unless woken by a release first. */
  #pollDelay(key: string, step: number, retryAfterMs: number | undefined, remaining: number): number {
    // Held by this very locker: its release or loss wakes us, so polling would only burn the store.
    const local = this.#shared ? undefined : this.#waiters.holder(key);
    if (local) return Math.min(remaining, Math.max(1, local.lossAt - performance.now()));
    let delay = backoffDelay(step, this.#defaults.backoff);
    // A store that says when the holding expires: no point sleeping past that.
    if (retryAfterMs !== undefined) delay = Math.min(delay, Math.max(1, retryAfterMs));
    return Math.min(delay, remaining);
  }

  #timeout(request: Prepared, waitMs: number, attempts: number, waitedMs: number): AcquireTimeoutError {
    return new AcquireTimeoutError(
      `still held by someone else after waiting ${formatMs(waitMs)} (${attempts} attempt${attempts === 1 ? '' : 's'})`,
      { backend: this.backend.name, operation: 'acquire', key: request.key, waitedMs, attempts },
    );
  }

  /**
   * The error an acquire gives up with. When the last attempt failed without an answer that rules
   * its write out (a timeout, a dropped connection: a retryable error from the call), the write may
   * still have landed, under a token nobody would ever release (for good, with an infinite TTL):
   * release that token in the background (`close()` waits for it). Releasing a token that holds
   * nothing is harmless; only this acquire's attempts ever used it.
   */
  #givingUp(request: Prepared, result: { error: LeaseError; unknown: boolean }): LeaseError {
    if (result.unknown && result.error.retryable && request.token !== '' && !request.tokenGiven)
      void this.#releaseRef(request.key, request.token, undefined);
    return result.error;
  }

  /** One attempt: the request's own I/O, raced against its abort signal. */
  async #attempt(request: Prepared, attempt: number, start: number): Promise<AttemptResult> {
    const { key, signal } = request;
    // Drawn at the first attempt: a waiter handed the key by a holder of this locker takes
    // that holding's token and never needs its own.
    if (request.token === '') request.token = randomUUID();
    const sentAt = performance.now();
    const waitMs = request.giveUpAt > sentAt ? request.giveUpAt - sentAt : 0;
    const pending = callBackend(() =>
      this.backend.tryAcquire({
        key,
        token: request.token,
        ttlMs: request.ttlMs,
        owner: request.owner,
        waitMs,
        signal,
      }),
    );
    this.#inFlight(pending);
    let outcome: AcquireOutcome;
    try {
      outcome = signal ? await raceAbort(pending, signal) : await pending;
    } catch (error) {
      if (signal?.aborted && error === signal.reason) {
        // The request may still land: release whatever it takes, so an abort never leaves a lock
        // behind (unless the token is the caller's: see `tokenGiven`).
        if (request.tokenGiven) throw error;
        const token = request.token;
        pending.then(
          (late) => {
            if (late.status === 'acquired') void this.#releaseRef(key, token, late.fence);
          },
          (late: unknown) => {
            // No answer either way (a timeout): it may have landed all the same.
            if (toLeaseError(late, { backend: this.backend.name }).retryable)
              void this.#releaseRef(key, token, undefined);
          },
        );
        throw error;
      }
      return {
        kind: 'error',
        error: toLeaseError(error, { backend: this.backend.name, operation: 'acquire', key }),
        unknown: true,
      };
    }
    if (outcome.status !== 'acquired') return { kind: 'held', retryAfterMs: outcome.retryAfterMs };
    const now = performance.now();
    // A store that waited before granting: the TTL ran from the grant, which came at least
    // `waitedMs` after we sent (and no later than now).
    const grantedAfter = outcome.waitedMs ? Math.min(Math.max(0, outcome.waitedMs), now - sentAt) : 0;
    const deadline = validityDeadline(
      this.#defaults.timing,
      sentAt + grantedAfter,
      request.ttlMs,
      outcome.validUntil,
    );
    const lossAt = deadline - lossMargin(this.#defaults.timing, request.ttlMs);
    if (now >= lossAt) {
      // Granted, but the round trip ate the validity: give it back and count this as a failed
      // attempt. The next attempt must not reuse this token while that release may still land
      // (it would delete the new holding), so wait for it, and take a new token unless it is settled.
      // A caller's own token is neither given back nor replaced: the next attempt with it is
      // answered with the same holding, its TTL run again.
      if (!request.tokenGiven) {
        const settled = await this.#releaseRef(key, request.token, outcome.fence);
        if (!settled) request.token = randomUUID();
      }
      return {
        kind: 'error',
        unknown: false, // the grant is known (and given back above, unless the token is the caller's)
        error: new BackendUnavailableError(
          `acquired, but the round trip (${formatMs(now - sentAt)}) left no validity of the ${formatMs(request.ttlMs)} TTL${request.tokenGiven ? '' : '; released it'}`,
          { backend: this.backend.name, operation: 'acquire', key },
        ),
      };
    }
    if (this.#closed) {
      if (!request.tokenGiven) void this.#releaseRef(key, request.token, outcome.fence);
      throw new ClosedError('the locker was closed during acquire', {
        backend: this.backend.name,
        operation: 'acquire',
        key,
      });
    }
    const handle = new LeaseHandle(this, {
      key,
      token: request.token,
      fence: outcome.fence,
      mode: request.mode,
      ttlMs: request.ttlMs,
      acquiredAt: sentAt,
      deadline,
      lossAt,
      onLost: request.onLost,
      owner: request.owner,
    });
    if (request.mode === 'lease') {
      const renewAt = sentAt + request.ttlMs * this.#defaults.timing.renewFraction;
      handle.renewAt = renewAt < lossAt ? renewAt : sentAt + (lossAt - sentAt) / 2;
    }
    // A shared holding is not this locker's to watch: another process may renew or release it.
    if (!this.#shared) {
      this.#held.add(handle);
      this.#waiters.hold(key, handle);
      this.#orchestrator.track(handle);
    }
    callHook(this.#options.hooks, 'acquired', {
      key,
      mode: request.mode,
      fence: outcome.fence,
      attempts: attempt,
      waitedMs: now - start,
      durationMs: now - sentAt,
      handedOver: false,
    });
    return { kind: 'acquired', lease: handle };
  }

  /** Counts `request` in flight until it settles (see `close`). */
  #inFlight(request: Promise<unknown>): void {
    this.#pending++;
    request.then(this.#settled, this.#settled);
  }

  readonly #settled = (): void => {
    if (--this.#pending > 0 || this.#drained.length === 0) return;
    const drained = this.#drained;
    this.#drained = [];
    for (const resolve of drained) resolve();
  };

  /** Resolves once no store request is in flight. */
  #whenDrained(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  #forget(handle: LeaseHandle): void {
    this.#held.delete(handle);
    this.#waiters.unhold(handle.key, handle);
  }

  /**
   * A holding handed over to a waiter: ours unless the locker closed (or it was lost) between
   * the grant and the waiter's turn to run; then it is already being released.
   */
  #taken(lease: LeaseHandle): LeaseHandle {
    if (lease.state === 'held') return lease;
    if (!this.#closed && lease.lostError) throw lease.lostError;
    throw new ClosedError('the locker was closed during acquire', {
      backend: this.backend.name,
      operation: 'acquire',
      key: lease.key,
    });
  }

  /**
   * Asks the store, while `holder` still works, to extend its holding for `request` (the next
   * local waiter) and draw a block of fences, one for each next holder the `localHandOvers`
   * budget allows, so that each release can hand the holding over at once. One request serves
   * a block of hand-overs; the block's last holder asks for the next one if the store said that
   * nobody else waited. Not sent while a renewal of the holding is in flight (see `#handOver`
   * for when its answer is used).
   */
  #prepareHandOver(holder: LeaseHandle, request: Prepared): void {
    const backend = this.backend;
    if (!canRenew(backend) || !backend.handOver) return;
    if (holder.next || holder.state !== 'held' || holder.inflight || this.#closed) return;
    const count = this.#defaults.localHandOvers;
    // A run starts with a holding taken from the store, and goes on past its first block only
    // while the store says nobody else waits (the block's last holder asks again), and for at
    // most `retry.max`, the longest a waiter elsewhere that the store cannot see (one polling)
    // sleeps between attempts: then the key goes back to the store, with the pause.
    const run = holder.run;
    if (count === 0 || (run && !this.#goesOn(run))) return;
    // Only for the TTL the holding already has: one shorter would cut what the holder counts on
    // (in the store, whatever the answer), and a renewal of the holder applied late only extends.
    if (request.ttlMs !== holder.ttlMs || request.ttlMs === Infinity || request.owner !== holder.owner)
      return;
    const sentAt = performance.now();
    const next: PendingHandOver = {
      sentAt,
      runStartedAt: run ? run.runStartedAt : sentAt,
      ttlMs: request.ttlMs,
      count,
      continues: run !== undefined,
      used: 0,
      stale: false,
      outcome: undefined,
      settled: undefined!,
    };
    holder.next = next;
    const ref = { key: holder.key, token: holder.token, fence: holder.fence };
    const asked = callBackend(() => backend.handOver!(ref, request.ttlMs, count));
    next.settled = asked.then(
      (outcome) => {
        next.outcome = outcome;
        // Not ours on the store any more: as a renewal saying so, the holder has lost it.
        if (outcome.status === 'lost')
          this.#orchestrator.lose(holder, 'taken', outcome.detail, outcome.cause);
      },
      (error: unknown) => {
        next.outcome = { status: 'error', error };
      },
    );
    this.#inFlight(next.settled);
  }

  /** The run `block` belongs to may go on with another block once `block` is used up. */
  #goesOn(block: PendingHandOver): boolean {
    return (
      block.used >= block.count &&
      uncontended(block) &&
      performance.now() - block.runStartedAt < this.#defaults.backoff.maxMs
    );
  }

  /**
   * Release of a holding whose hand-over has not answered yet, while the next waiter can take
   * it: waits for the answer (`waitMs`: while it could still be used, at most half the release
   * bound), then hands over or releases in the store within what is left of the bound. The key
   * stays marked as held here meanwhile, so nobody of this locker polls the store. (A release
   * that does not wait would have the store apply the hand-over first, Redis, or refuse it
   * after: the token is gone.)
   */
  async #passOn(handle: LeaseHandle, next: PendingHandOver, waitMs: number): Promise<boolean> {
    const started = performance.now();
    await settleWithin(next.settled, waitMs);
    if (this.#handOver(handle, next, started)) return true;
    this.#waiters.unhold(handle.key, handle);
    // What is left of the release bound.
    return this.#release(handle, this.#defaults.releaseTimeoutMs - (performance.now() - started));
  }

  /** Until when (monotonic ms) `next`'s extension may be handed to a waiter asking `request`. */
  #usableUntil(next: PendingHandOver, request: Prepared): number {
    const timing = this.#defaults.timing;
    const maxAge =
      request.mode === 'lease' ? next.ttlMs * timing.renewFraction : lossMargin(timing, next.ttlMs);
    return next.sentAt + maxAge;
  }

  /**
   * The head of the key's queue, if it can take `handle`'s holding through `next` (whatever the
   * store answers): asleep, asking the extended TTL and owner; and nothing since made the
   * extension unsafe (a renewal sent after it, or in flight).
   */
  #takerOf(handle: LeaseHandle, next: PendingHandOver): WaitTicket<LeaseHandle, Prepared> | undefined {
    if (this.#closed || handle.inflight || next.stale || next.used >= next.count) return undefined;
    const ticket = this.#waiters.head(handle.key);
    const request = ticket?.request;
    if (!ticket?.sleeping || !request || request.signal?.aborted) return undefined;
    if (request.ttlMs !== next.ttlMs || request.owner !== handle.owner) return undefined;
    return ticket;
  }

  /**
   * Hands `handle`'s holding to the head of the key's queue, with no I/O, if it is safe:
   * - the store extended the holding and, when fencing, drew a block of fences above the
   *   holder's, of which one is left;
   * - no renewal of the holding was sent after that request (it could apply after it) nor is in
   *   flight;
   * - the head is asleep and asks for what was extended: the same TTL and owner;
   * - the extension is recent: a lease waiter gets at least what a lease has when it is next due
   *   for renewal, a timeout-lock waiter its whole TTL less at most the loss margin.
   * The new holder's validity counts from when that request left, as for any renewal.
   */
  #handOver(handle: LeaseHandle, next: PendingHandOver, releasedAt: number): boolean {
    const outcome = next.outcome;
    if (outcome?.status !== 'renewed') return false;
    // A run's next block, asked because nobody else waited: somebody does now, so the run ends
    // here and the key goes back to the store, as after a first block.
    if (next.continues && outcome.contended !== false) return false;
    const ticket = this.#takerOf(handle, next);
    const request = ticket?.request;
    if (!ticket || !request) return false;
    // The block's fences in order: the lowest is above every fence handed out before it.
    const fence = outcome.fence === undefined ? undefined : outcome.fence - next.count + 1 + next.used;
    if (this.backend.capabilities.fencing && !(fence !== undefined && fence > (handle.fence ?? 0)))
      return false;
    const timing = this.#defaults.timing;
    const now = performance.now();
    if (now >= this.#usableUntil(next, request)) return false;
    const deadline = validityDeadline(timing, next.sentAt, next.ttlMs, outcome.validUntil);
    const lossAt = deadline - lossMargin(timing, next.ttlMs);
    if (now >= lossAt) return false;
    const successor = new LeaseHandle(this, {
      key: handle.key,
      token: handle.token,
      fence,
      mode: request.mode,
      ttlMs: next.ttlMs,
      acquiredAt: now,
      deadline,
      lossAt,
      onLost: request.onLost,
      owner: request.owner,
      handOvers: handle.handOvers + 1,
    });
    if (request.mode === 'lease') {
      const renewAt = next.sentAt + next.ttlMs * timing.renewFraction;
      successor.renewAt = renewAt < lossAt ? renewAt : now + (lossAt - now) / 2;
    }
    if (!ticket.grant(successor)) return false;
    next.used++;
    successor.run = next;
    // The rest of the block serves the next hand-overs, from this holder on.
    if (next.used < next.count) successor.next = next;
    this.#held.add(successor);
    this.#waiters.hold(handle.key, successor);
    this.#orchestrator.track(successor);
    callHook(this.#options.hooks, 'released', {
      key: handle.key,
      heldMs: releasedAt - handle.acquiredAt,
      durationMs: now - releasedAt,
      wasHeld: true,
      handedOver: true,
    });
    callHook(this.#options.hooks, 'acquired', {
      key: handle.key,
      mode: request.mode,
      fence,
      attempts: request.attempts,
      waitedMs: now - request.startedAt,
      durationMs: 0,
      handedOver: true,
    });
    return true;
  }

  #onLost(handle: LeaseHandle, error: LeaseLostError): void {
    this.#forget(handle);
    this.#waiters.wake(handle.key);
    callHook(this.#options.hooks, 'lost', {
      key: handle.key,
      error,
      heldMs: performance.now() - handle.acquiredAt,
    });
    const tracer = this.#tracer;
    const span =
      tracer &&
      startSpan(tracer, 'leasekit.lost', {
        'leasekit.backend': this.backend.name,
        'leasekit.key': handle.key,
        'leasekit.reason': error.reason,
      });
    endSpan(span, error);
    if (handle.onLost) {
      try {
        handle.onLost(error);
      } catch (hookError) {
        process.emitWarning(`leasekit: onLost threw: ${String(hookError)}`, { code: 'LEASEKIT_HOOK_ERROR' });
      }
    }
    // If we lost it because renewals could not get through, free the key as soon as the store is
    // back. So too for a timeout lock that ran out after a hand-over was asked for: that request
    // extended the holding in the store past the holder's own deadline.
    if (
      error.reason === 'renewal-failed' ||
      error.reason === 'late-renewal' ||
      (error.reason === 'expired' && handle.next)
    ) {
      void this.#releaseRef(handle.key, handle.token, handle.fence);
    }
  }

  /**
   * Release with a bound: resolves within `releaseTimeout` whatever the store does. `bound`: the
   * release bound's timers, or what is left of it after a pass-on's wait (ms).
   */
  async #release(handle: LeaseHandle, bound: Deadlines | number = this.#releaseDeadlines): Promise<boolean> {
    const started = performance.now();
    const tracer = this.#tracer;
    const span =
      tracer &&
      startSpan(tracer, 'leasekit.release', {
        'leasekit.backend': this.backend.name,
        'leasekit.key': handle.key,
      });
    try {
      const releasing = this.#releaseWithin(handle.key, handle.token, handle.fence, bound);
      // The last of a run of local hand-overs (by count, or ended early) gives the key back to
      // the store so that other processes get their turn: our next waiter then waits one more
      // round trip after the release's answer, so that a waiter elsewhere, woken by the store's
      // release hint at about the time that answer came, has its attempt in first. Not when the
      // store's last word was that nobody else waited: the answer to the holding's latest
      // hand-over request (a run's next block not answered, or failed: cannot tell, so pause).
      const next = handle.next;
      const latest = next?.continues || next?.outcome?.status === 'renewed' ? next : handle.run;
      const yieldTurn = handle.handOvers > 0 && !(latest && uncontended(latest));
      // The store applies a later attempt after this release: the next waiter may go right now.
      if (this.backend.capabilities.orderedRelease && !yieldTurn) this.#waiters.wake(handle.key);
      const wasHeld = await releasing.finally(() => {
        // Even a failed release may have freed the key: let the next waiter look (again).
        if (!yieldTurn) return this.#waiters.wake(handle.key);
        const roundTrip = Math.min(MAX_YIELD_MS, performance.now() - started);
        setTimeout(() => this.#waiters.wake(handle.key), roundTrip).unref();
      });
      const now = performance.now();
      callHook(this.#options.hooks, 'released', {
        key: handle.key,
        heldMs: now - handle.acquiredAt,
        durationMs: now - started,
        wasHeld,
        handedOver: false,
      });
      endSpan(span);
      return wasHeld;
    } catch (error) {
      const leaseError = toLeaseError(error, {
        backend: this.backend.name,
        operation: 'release',
        key: handle.key,
      });
      callHook(this.#options.hooks, 'releaseFailed', { key: handle.key, error: leaseError });
      endSpan(span, leaseError);
      throw leaseError;
    }
  }

  #releaseWithin(
    key: string,
    token: string,
    fence: number | undefined,
    bound: Deadlines | number = this.#releaseDeadlines,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const onTimeout = () => {
        reject(
          new BackendUnavailableError(
            `no answer within releaseTimeout (${formatMs(this.#defaults.releaseTimeoutMs)}${typeof bound === 'number' ? `, part of it spent waiting for a hand-over` : ''}); the lease will expire by its TTL`,
            {
              backend: this.backend.name,
              operation: 'release',
              key,
            },
          ),
        );
      };
      // A pass-on's rare leftover bound gets a timer of its own; every other release shares one.
      let timer: NodeJS.Timeout | undefined;
      const deadline = typeof bound === 'number' ? undefined : bound.start(onTimeout);
      if (typeof bound === 'number') timer = setTimeout(onTimeout, Math.max(0, bound)).unref();
      const cancel = () => {
        deadline?.cancel();
        clearTimeout(timer);
      };
      callBackend(() => this.backend.release({ key, token, fence })).then(
        (released) => {
          cancel();
          resolve(released);
        },
        (error: unknown) => {
          cancel();
          reject(toLeaseError(error, { backend: this.backend.name, operation: 'release', key }));
        },
      );
    });
  }

  /**
   * Release of a holding we will not use; failures go to the `releaseFailed` hook. Resolves
   * `true` once the store answered (either way), `false` on an error or timeout. `close()` waits
   * for these before closing the backend.
   */
  #releaseRef(key: string, token: string, fence: number | undefined): Promise<boolean> {
    const done = this.#releaseWithin(key, token, fence).then(
      () => true,
      (error: unknown) => {
        callHook(this.#options.hooks, 'releaseFailed', {
          key,
          error: toLeaseError(error, { backend: this.backend.name, operation: 'release', key }),
        });
        return false;
      },
    );
    this.#inFlight(done);
    return done;
  }

  async #withHeld<T>(
    key: string,
    routine: (signal: AbortSignal, lease: Lease) => Promise<T> | T,
    options: AcquireOptions,
  ): Promise<T> {
    if (typeof routine !== 'function') {
      throw new InvalidArgumentError('the routine must be a function', {
        backend: this.backend.name,
        operation: 'acquire',
      });
    }
    const lease = await this.acquire(key, options);
    const signal = options.signal ? AbortSignal.any([lease.signal, options.signal]) : lease.signal;
    let result: T;
    try {
      result = await routine(signal, lease);
    } catch (routineError) {
      // The routine's own error wins; a failed release is reported through the hook only.
      await lease.release().catch(() => {});
      throw routineError;
    }
    const lostBeforeEnd = !lease.held && (lease as LeaseHandle).lostError;
    await lease.release().catch(() => {});
    if (lostBeforeEnd) throw lostBeforeEnd;
    return result;
  }
}

interface Prepared {
  key: string;
  mode: LeaseMode;
  ttlMs: number;
  signal: AbortSignal | undefined;
  /**
   * Reused across this call's attempts (a landed attempt is recognised), replaced when unsafe;
   * `''` until the first attempt.
   */
  token: string;
  /**
   * The token is the caller's (`AcquireOptions.token`): its retry, here or in another process,
   * may hold the very holding an attempt of ours took, so we never give one back on our own
   * (abort, unknown outcome, validity eaten by the round trip): it is released by its holder or
   * expires by its TTL.
   */
  tokenGiven: boolean;
  owner: string | undefined;
  onLost: ((error: LeaseLostError) => void) | undefined;
  /** When the waiting began (monotonic ms), and the store attempts made so far. */
  startedAt: number;
  /** When `acquire` gives up (monotonic ms; 0: one attempt): each attempt passes what is left as `waitMs`. */
  giveUpAt: number;
  attempts: number;
}

type AttemptResult =
  | { kind: 'acquired'; lease: LeaseHandle }
  | { kind: 'held'; retryAfterMs: number | undefined }
  /** `unknown`: the store did not answer (the error came from the call), so the write may have landed. */
  | { kind: 'error'; error: LeaseError; unknown: boolean };

/** Settles with `promise`, or rejects with `signal.reason` as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Waits for `promise` to settle, but no longer than `ms`. */
function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
