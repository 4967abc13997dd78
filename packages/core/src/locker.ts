import { Acquirer, cannotRenew, type PreparedAcquire } from './acquire.js';
import {
  type AnyBackend,
  callBackend,
  canRenew,
  type LeaseInfo,
  type LeaseRef,
  type RenewOutcome,
} from './backend.js';
import type { BackoffPolicy } from './backoff.js';
import type { Duration } from './duration.js';
import {
  ClosedError,
  InvalidArgumentError,
  LeaseLostError,
  toLeaseError,
  UnsupportedError,
} from './errors.js';
import { LocalHandOvers, settleWithin } from './hand-over.js';
import { callHook, type LockerHooks } from './hooks.js';
import type { Lease, LeaseHandle, LeaseMode, LeaseOwner } from './lease.js';
import { RenewalOrchestrator, type Timing, validityDeadline } from './orchestrator.js';
import { Releases } from './release.js';
import { Roster } from './roster.js';
import { endSpan, loadTracer, type SpanLike, startSpan, type TracerLike } from './tracing.js';
import {
  checkCount,
  checkDuration,
  checkFraction,
  checkKey,
  checkLossMargin,
  checkToken,
  checkTtl,
} from './validate.js';
import { WaitQueues } from './wait-queue.js';

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

/** Largest `localHandOvers`: a block draws that many fences from the store's counter at once. */
const MAX_LOCAL_HAND_OVERS = 1024;

/** Creates the user-facing locker over any backend. */
export function createLocker(backend: AnyBackend, options: LockerOptions = {}): Locker {
  return new LockerImpl(backend, options);
}

/**
 * The public API. The work is done by four parts, each owning its state:
 * - `Acquirer` (acquire.ts): checks a call's input, then attempts with backoff, in a wait queue
 *   per key (`WaitQueues`, wait-queue.ts) where only the head talks to the store;
 * - `LocalHandOvers` (hand-over.ts): passes a holding from a holder of this locker to its next
 *   waiter without a round trip;
 * - `RenewalOrchestrator` (orchestrator.ts): renews held leases and declares them lost;
 * - `Releases` (release.ts): bounded releases, and the requests `close()` lets finish.
 */
class LockerImpl implements Locker, LeaseOwner {
  readonly backend: AnyBackend;
  readonly #options: LockerOptions;
  readonly #defaults: Resolved;
  readonly #orchestrator: RenewalOrchestrator;
  readonly #held = new Roster<LeaseHandle>('heldSlot');
  /** Waiters per key, and this locker's current holding of each key. */
  readonly #waiters: WaitQueues<LeaseHandle, PreparedAcquire>;
  readonly #handOvers: LocalHandOvers;
  readonly #acquirer: Acquirer;
  readonly #releases: Releases;
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
    const defaults = resolve(backend, options, this.#shared);
    this.#defaults = defaults;
    const closed = () => this.#closed;
    const inFlight = (request: Promise<unknown>) => this.#releases.inFlight(request);
    /** A lease taken (from the store or by hand-over) joins what this locker holds and renews. */
    const adopt = (lease: LeaseHandle) => {
      this.#held.add(lease);
      this.#waiters.hold(lease.key, lease);
      this.#orchestrator.track(lease);
    };
    this.#waiters = new WaitQueues<LeaseHandle, PreparedAcquire>(
      backend,
      // A waiter of this locker took the key and the next one sleeps behind it: make the holding
      // ready to pass on meanwhile.
      (holder, next) => {
        try {
          if (next.request) this.#handOvers.prepare(holder, next.request);
        } catch {
          // Runs as the new holder's acquire returns, which must not fail over it: the next waiter
          // looks for itself instead, and meets the error in its own acquire.
          next.rouse();
        }
      },
      { holdersOwnTheKey: !this.#shared },
    );
    this.#handOvers = new LocalHandOvers({
      backend,
      timing: defaults.timing,
      blockSize: defaults.localHandOvers,
      runMaxMs: defaults.backoff.maxMs,
      releaseTimeoutMs: defaults.releaseTimeoutMs,
      hooks: options.hooks,
      head: (key) => this.#waiters.head(key),
      owner: this,
      closed,
      lose: (holder, detail, cause) => this.#orchestrator.lose(holder, 'taken', detail, cause),
      inFlight,
      adopt,
    });
    this.#releases = new Releases({
      backend,
      releaseTimeoutMs: defaults.releaseTimeoutMs,
      hooks: options.hooks,
      wake: (key) => this.#waiters.wake(key),
      handOvers: this.#handOvers,
      tracer: () => this.#tracer,
    });
    this.#acquirer = new Acquirer({
      backend,
      timing: defaults.timing,
      backoff: defaults.backoff,
      defaults: { ttlMs: defaults.ttlMs, mode: defaults.mode, owner: options.owner },
      shared: this.#shared,
      hooks: options.hooks,
      owner: this,
      waiters: this.#waiters,
      handOvers: this.#handOvers,
      closed,
      adopt,
      giveBack: (key, token, fence) => this.#releases.giveBack(key, token, fence),
      inFlight,
    });
    this.#orchestrator = new RenewalOrchestrator({
      backend,
      timing: defaults.timing,
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
    let request: PreparedAcquire;
    let waitMs: number;
    try {
      request = this.#acquirer.prepare(key, options, 'acquire');
      waitMs =
        options.wait === undefined
          ? this.#defaults.waitMs
          : checkDuration(this.backend, options.wait, 'wait', 'acquire', true);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#traced('acquire', key, request.mode, () => this.#acquirer.loop(request, waitMs));
  }

  tryAcquire(key: string, options: TryAcquireOptions = {}): Promise<Lease | null> {
    let request: PreparedAcquire;
    try {
      request = this.#acquirer.prepare(key, options, 'acquire');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#traced('acquire', key, request.mode, () => this.#acquirer.once(request));
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
    if (!canRenew(this.backend)) throw cannotRenew(this.backend, 'renew');
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
    const released = await this.#releases.within(key, token, ref.fence);
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
    for (let pass = 0; pass < 2 && this.#releases.pending > 0; pass++) {
      await settleWithin(this.#releases.whenDrained(), this.#defaults.releaseTimeoutMs);
    }
    if (this.#options.closeBackend !== false) await this.backend.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- LeaseOwner: what lease handles call back into ----

  async renewLease(handle: LeaseHandle, ttl: Duration | undefined): Promise<void> {
    if (!canRenew(this.backend)) throw cannotRenew(this.backend, 'renew');
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
    const wasHeld = handle.state === 'held';
    handle.state = 'released';
    this.#orchestrator.untrack(handle);
    this.#held.delete(handle);
    // Passed to this locker's next waiter if a hand-over was prepared for it, else released in the store.
    const passing = wasHeld ? this.#handOvers.passOn(handle, this.#releaseInStore) : undefined;
    handle.releasing = passing ?? this.#releaseInStore(handle);
    return handle.releasing;
  }

  checkLease(handle: LeaseHandle): void {
    this.#orchestrator.check(handle);
  }

  // ---- internals ----

  /** `msLeft`: what is left of the release bound after waiting for a hand-over that was not used. */
  readonly #releaseInStore = (handle: LeaseHandle, msLeft?: number): Promise<boolean> => {
    this.#waiters.unhold(handle.key, handle);
    return this.#releases.release(handle, msLeft);
  };

  #onLost(handle: LeaseHandle, error: LeaseLostError): void {
    this.#held.delete(handle);
    this.#waiters.unhold(handle.key, handle);
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
      (error.reason === 'expired' && this.#handOvers.extended(handle))
    ) {
      void this.#releases.giveBack(handle.key, handle.token, handle.fence);
    }
  }

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

/** The locker's options, checked (`InvalidArgumentError` naming the allowed range), with defaults filled in. */
function resolve(backend: AnyBackend, options: LockerOptions, shared: boolean): Resolved {
  const op = 'configure';
  const mode = options.mode ?? 'timeout';
  if (mode !== 'timeout' && mode !== 'lease') {
    throw new InvalidArgumentError(`mode must be 'timeout' or 'lease'; got ${String(mode)}`, {
      operation: op,
    });
  }
  const retry = options.retry ?? {};
  const resolved: Resolved = {
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
      options.localHandOvers ?? (shared ? 0 : 16),
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
  const driftFactor: unknown = resolved.timing.driftFactor;
  if (typeof driftFactor !== 'number' || !(driftFactor >= 0 && driftFactor < 0.5)) {
    throw new InvalidArgumentError(
      `clockDrift.factor must be >= 0 and < 0.5; got ${resolved.timing.driftFactor}`,
      { operation: op },
    );
  }
  const maxRenewFraction = backend.capabilities.maxRenewFraction;
  if (maxRenewFraction !== undefined && resolved.timing.renewFraction > maxRenewFraction) {
    throw new InvalidArgumentError(
      `renewFraction must be at most ${maxRenewFraction} for the ${backend.name} backend (a lease must last at least ${+(1 / maxRenewFraction).toFixed(2)} renew intervals); got ${+resolved.timing.renewFraction.toFixed(4)}`,
      { backend: backend.name, operation: op },
    );
  }
  if (mode === 'lease' && !canRenew(backend)) throw cannotRenew(backend, op);
  return resolved;
}
