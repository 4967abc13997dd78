import { randomUUID } from 'node:crypto';
import { type AcquireOutcome, type AnyBackend, callBackend, canRenew } from './backend.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import { formatMs } from './duration.js';
import {
  AcquireTimeoutError,
  BackendUnavailableError,
  ClosedError,
  InvalidArgumentError,
  type LeaseError,
  type LeaseLostError,
  toLeaseError,
  UnsupportedError,
} from './errors.js';
import type { LocalHandOvers } from './hand-over.js';
import { callHook, type LockerHooks } from './hooks.js';
import { type Lease, LeaseHandle, type LeaseMode, type LeaseOwner } from './lease.js';
import type { AcquireOptions } from './locker.js';
import { lossMargin, type Timing, validityDeadline } from './orchestrator.js';
import { checkKey, checkSignal, checkToken, checkTtl } from './validate.js';
import type { WaitQueues } from './wait-queue.js';

/** One `acquire` or `tryAcquire` call, checked: what it asks for and how far it got. */
export interface PreparedAcquire {
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

/** What the acquire loop needs from its locker. */
export interface AcquireHost {
  readonly backend: AnyBackend;
  readonly timing: Timing;
  readonly backoff: BackoffPolicy;
  readonly defaults: { readonly ttlMs: number; readonly mode: LeaseMode; readonly owner: string | undefined };
  /** `sharedHoldings`: what the locker grants is not its to watch, and a key it holds may be freed elsewhere. */
  readonly shared: boolean;
  readonly hooks: LockerHooks | undefined;
  /** What a new lease's handle calls back into. */
  readonly owner: LeaseOwner;
  readonly waiters: WaitQueues<LeaseHandle, PreparedAcquire>;
  readonly handOvers: LocalHandOvers;
  closed(): boolean;
  /** Makes `lease` one of the locker's held leases (tracked, renewed, released on close). */
  adopt(lease: LeaseHandle): void;
  /** Releases a holding nobody will use, in the background; resolves `true` once the store answered. */
  giveBack(key: string, token: string, fence: number | undefined): Promise<boolean>;
  /** Counts a store request in flight until it settles (`close()` waits for them). */
  inFlight(request: Promise<unknown>): void;
}

/** The error for a lease-mode request on a backend that cannot renew. */
export function cannotRenew(backend: AnyBackend, operation: string): UnsupportedError {
  return new UnsupportedError(
    `this backend cannot renew leases (it is a timeout-lock backend); use mode 'timeout' / withLock, or a backend with renew()`,
    { backend: backend.name, operation },
  );
}

/**
 * Taking a key: each call's input checked before any I/O, one attempt (`once`), or attempts
 * with backoff until the wait runs out (`loop`), in this locker's wait queue for the key so that
 * only its head talks to the store, and a release of this locker hands the key over directly.
 */
export class Acquirer {
  readonly #host: AcquireHost;

  constructor(host: AcquireHost) {
    this.#host = host;
  }

  /** Checks an acquire's input before any I/O (throws `InvalidArgumentError`, `ClosedError`, or the abort reason). */
  prepare(key: string, options: AcquireOptions, operation: string): PreparedAcquire {
    const { backend, defaults } = this.#host;
    if (this.#host.closed())
      throw new ClosedError('the locker is closed', { backend: backend.name, operation, key });
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options must be an object', { backend: backend.name, operation });
    }
    checkKey(backend, key, operation);
    const mode = options.mode ?? defaults.mode;
    if (mode !== 'timeout' && mode !== 'lease') {
      throw new InvalidArgumentError(`mode must be 'timeout' or 'lease'; got ${String(mode)}`, {
        backend: backend.name,
        operation,
      });
    }
    if (mode === 'lease' && !canRenew(backend)) throw cannotRenew(backend, operation);
    const ttlMs = options.ttl === undefined ? defaults.ttlMs : checkTtl(backend, options.ttl, operation);
    if (mode === 'lease' && ttlMs === Infinity) {
      throw new InvalidArgumentError("an infinite TTL is for timeout-less use only: use mode 'timeout'", {
        backend: backend.name,
        operation,
      });
    }
    const signal = checkSignal(options.signal, operation);
    if (options.onLost !== undefined && typeof options.onLost !== 'function') {
      throw new InvalidArgumentError('onLost must be a function', { backend: backend.name, operation });
    }
    if (options.token !== undefined) checkToken(backend, options.token, operation);
    signal?.throwIfAborted();
    return {
      key,
      mode,
      ttlMs,
      signal,
      token: options.token ?? '',
      tokenGiven: options.token !== undefined,
      owner: options.owner ?? defaults.owner,
      onLost: options.onLost,
      startedAt: 0,
      giveUpAt: 0,
      attempts: 0,
    };
  }

  /** One attempt: the lease, or `null` when someone else holds the key. */
  async once(request: PreparedAcquire): Promise<Lease | null> {
    const result = await this.#attempt(request, 1, performance.now());
    if (result.kind === 'acquired') return result.lease;
    if (result.kind === 'error') throw this.#givingUp(request, result);
    return null;
  }

  /** Attempts until acquired, or until `waitMs` runs out (`AcquireTimeoutError`) or the signal aborts. */
  async loop(request: PreparedAcquire, waitMs: number): Promise<Lease> {
    const host = this.#host;
    if (waitMs === 0) {
      const lease = await this.once(request);
      if (lease) return lease;
      throw this.#timeout(request, waitMs, 1, 0);
    }
    const start = performance.now();
    request.startedAt = start;
    const giveUpAt = start + waitMs;
    request.giveUpAt = giveUpAt;
    const ticket = host.waiters.join(request.key, request);
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
        if (host.closed()) {
          throw new ClosedError('the locker was closed while waiting', {
            backend: host.backend.name,
            operation: 'acquire',
            key: request.key,
          });
        }
        const local = host.shared ? undefined : host.waiters.holder(request.key);
        if (local) {
          // Held by this very locker: an attempt could only fail. Have the holding made ready
          // to pass on, and sleep until its release (or loss) wakes us or hands it over.
          host.handOvers.prepare(local, request);
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
    const host = this.#host;
    // Held by this very locker: its release or loss wakes us, so polling would only burn the store.
    const local = host.shared ? undefined : host.waiters.holder(key);
    if (local) return Math.min(remaining, Math.max(1, local.lossAt - performance.now()));
    let delay = backoffDelay(step, host.backoff);
    // A store that says when the holding expires: no point sleeping past that.
    if (retryAfterMs !== undefined) delay = Math.min(delay, Math.max(1, retryAfterMs));
    return Math.min(delay, remaining);
  }

  #timeout(
    request: PreparedAcquire,
    waitMs: number,
    attempts: number,
    waitedMs: number,
  ): AcquireTimeoutError {
    return new AcquireTimeoutError(
      `still held by someone else after waiting ${formatMs(waitMs)} (${attempts} attempt${attempts === 1 ? '' : 's'})`,
      { backend: this.#host.backend.name, operation: 'acquire', key: request.key, waitedMs, attempts },
    );
  }

  /**
   * The error an acquire gives up with. When the last attempt failed without an answer that rules
   * its write out (a timeout, a dropped connection: a retryable error from the call), the write may
   * still have landed, under a token nobody would ever release (for good, with an infinite TTL):
   * release that token in the background (`close()` waits for it). Releasing a token that holds
   * nothing is harmless; only this acquire's attempts ever used it.
   */
  #givingUp(request: PreparedAcquire, result: { error: LeaseError; unknown: boolean }): LeaseError {
    if (result.unknown && result.error.retryable && request.token !== '' && !request.tokenGiven)
      void this.#host.giveBack(request.key, request.token, undefined);
    return result.error;
  }

  /**
   * A holding handed over to a waiter: ours unless the locker closed (or it was lost) between
   * the grant and the waiter's turn to run; then it is already being released.
   */
  #taken(lease: LeaseHandle): LeaseHandle {
    if (lease.state === 'held') return lease;
    if (!this.#host.closed() && lease.lostError) throw lease.lostError;
    throw new ClosedError('the locker was closed during acquire', {
      backend: this.#host.backend.name,
      operation: 'acquire',
      key: lease.key,
    });
  }

  /** One attempt: the request's own I/O, raced against its abort signal. */
  async #attempt(request: PreparedAcquire, attempt: number, start: number): Promise<AttemptResult> {
    const host = this.#host;
    const backend = host.backend;
    const { key, signal } = request;
    // Drawn at the first attempt: a waiter handed the key by a holder of this locker takes
    // that holding's token and never needs its own.
    if (request.token === '') request.token = randomUUID();
    const sentAt = performance.now();
    const waitMs = request.giveUpAt > sentAt ? request.giveUpAt - sentAt : 0;
    const pending = callBackend(() =>
      backend.tryAcquire({
        key,
        token: request.token,
        ttlMs: request.ttlMs,
        owner: request.owner,
        waitMs,
        signal,
      }),
    );
    host.inFlight(pending);
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
            if (late.status === 'acquired') void host.giveBack(key, token, late.fence);
          },
          (late: unknown) => {
            // No answer either way (a timeout): it may have landed all the same.
            if (toLeaseError(late, { backend: backend.name }).retryable)
              void host.giveBack(key, token, undefined);
          },
        );
        throw error;
      }
      return {
        kind: 'error',
        error: toLeaseError(error, { backend: backend.name, operation: 'acquire', key }),
        unknown: true,
      };
    }
    if (outcome.status !== 'acquired') return { kind: 'held', retryAfterMs: outcome.retryAfterMs };
    const now = performance.now();
    // A store that waited before granting: the TTL ran from the grant, which came at least
    // `waitedMs` after we sent (and no later than now).
    const grantedAfter = outcome.waitedMs ? Math.min(Math.max(0, outcome.waitedMs), now - sentAt) : 0;
    const deadline = validityDeadline(host.timing, sentAt + grantedAfter, request.ttlMs, outcome.validUntil);
    const lossAt = deadline - lossMargin(host.timing, request.ttlMs);
    if (now >= lossAt) {
      // Granted, but the round trip ate the validity: give it back and count this as a failed
      // attempt. The next attempt must not reuse this token while that release may still land
      // (it would delete the new holding), so wait for it, and take a new token unless it is settled.
      // A caller's own token is neither given back nor replaced: the next attempt with it is
      // answered with the same holding, its TTL run again.
      if (!request.tokenGiven) {
        const settled = await host.giveBack(key, request.token, outcome.fence);
        if (!settled) request.token = randomUUID();
      }
      return {
        kind: 'error',
        unknown: false, // the grant is known (and given back above, unless the token is the caller's)
        error: new BackendUnavailableError(
          `acquired, but the round trip (${formatMs(now - sentAt)}) left no validity of the ${formatMs(request.ttlMs)} TTL${request.tokenGiven ? '' : '; released it'}`,
          { backend: backend.name, operation: 'acquire', key },
        ),
      };
    }
    if (host.closed()) {
      if (!request.tokenGiven) void host.giveBack(key, request.token, outcome.fence);
      throw new ClosedError('the locker was closed during acquire', {
        backend: backend.name,
        operation: 'acquire',
        key,
      });
    }
    const handle = new LeaseHandle(host.owner, {
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
      const renewAt = sentAt + request.ttlMs * host.timing.renewFraction;
      handle.renewAt = renewAt < lossAt ? renewAt : sentAt + (lossAt - sentAt) / 2;
    }
    // A shared holding is not this locker's to watch: another process may renew or release it.
    if (!host.shared) host.adopt(handle);
    callHook(host.hooks, 'acquired', {
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
}

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
