import { type AnyBackend, callBackend } from './backend.js';
import { Deadlines } from './deadlines.js';
import { formatMs } from './duration.js';
import { BackendUnavailableError, toLeaseError } from './errors.js';
import type { LocalHandOvers } from './hand-over.js';
import { callHook, type LockerHooks } from './hooks.js';
import type { LeaseHandle } from './lease.js';
import { endSpan, startSpan, type TracerLike } from './tracing.js';

/** Longest a run's last holder makes this locker's next waiter wait after the release's answer. */
const MAX_YIELD_MS = 50;

export interface ReleaseHost {
  readonly backend: AnyBackend;
  readonly releaseTimeoutMs: number;
  readonly hooks: LockerHooks | undefined;
  /** The key was (probably) freed: wake this locker's next waiter for it. */
  wake(key: string): void;
  readonly handOvers: LocalHandOvers;
  tracer(): TracerLike | undefined;
}

/**
 * Releases in the store, each bounded by `releaseTimeout` (a release never holds its caller up
 * longer: the lease is then left to expire by its TTL), and the count of store requests in
 * flight that `close()` lets finish before it closes the backend.
 */
export class Releases {
  readonly #host: ReleaseHost;
  /** The `releaseTimeout` of every release, behind one timer. */
  readonly #deadlines: Deadlines;
  /**
   * Store requests still in flight that close() must let finish (attempts, give-backs): a count
   * and who waits for it to reach 0, not a set of promises (see `Roster` for why not a Set).
   */
  #pending = 0;
  #drained: (() => void)[] = [];

  constructor(host: ReleaseHost) {
    this.#host = host;
    this.#deadlines = new Deadlines(host.releaseTimeoutMs);
  }

  /**
   * Releases `handle`'s holding in the store and wakes this locker's next waiter for the key.
   * `msLeft`: what is left of the release bound after a pass-on's wait (default: all of it).
   */
  async release(handle: LeaseHandle, msLeft?: number): Promise<boolean> {
    const host = this.#host;
    const started = performance.now();
    const tracer = host.tracer();
    const span =
      tracer &&
      startSpan(tracer, 'leasekit.release', {
        'leasekit.backend': host.backend.name,
        'leasekit.key': handle.key,
      });
    try {
      const releasing = this.within(handle.key, handle.token, handle.fence, msLeft);
      const pause = host.handOvers.pausesNextWaiter(handle);
      // The store applies a later attempt after this release: the next waiter may go right now.
      if (host.backend.capabilities.orderedRelease && !pause) host.wake(handle.key);
      const wasHeld = await releasing.finally(() => {
        // Even a failed release may have freed the key: let the next waiter look (again).
        if (!pause) return host.wake(handle.key);
        // One round trip, for a waiter elsewhere woken by the store's release hint.
        const roundTrip = Math.min(MAX_YIELD_MS, performance.now() - started);
        setTimeout(() => host.wake(handle.key), roundTrip).unref();
      });
      const now = performance.now();
      callHook(host.hooks, 'released', {
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
        backend: host.backend.name,
        operation: 'release',
        key: handle.key,
      });
      callHook(host.hooks, 'releaseFailed', { key: handle.key, error: leaseError });
      endSpan(span, leaseError);
      throw leaseError;
    }
  }

  /** Releases a holding by reference, rejecting with `BackendUnavailableError` past the bound. */
  within(key: string, token: string, fence: number | undefined, msLeft?: number): Promise<boolean> {
    const host = this.#host;
    return new Promise<boolean>((resolve, reject) => {
      const onTimeout = () => {
        reject(
          new BackendUnavailableError(
            `no answer within releaseTimeout (${formatMs(host.releaseTimeoutMs)}${msLeft === undefined ? '' : ', part of it spent waiting for a hand-over'}); the lease will expire by its TTL`,
            { backend: host.backend.name, operation: 'release', key },
          ),
        );
      };
      // A pass-on's rare leftover bound gets a timer of its own; every other release shares one.
      let timer: NodeJS.Timeout | undefined;
      const deadline = msLeft === undefined ? this.#deadlines.start(onTimeout) : undefined;
      if (msLeft !== undefined) timer = setTimeout(onTimeout, Math.max(0, msLeft)).unref();
      const cancel = () => {
        deadline?.cancel();
        clearTimeout(timer);
      };
      callBackend(() => host.backend.release({ key, token, fence })).then(
        (released) => {
          cancel();
          resolve(released);
        },
        (error: unknown) => {
          cancel();
          reject(toLeaseError(error, { backend: host.backend.name, operation: 'release', key }));
        },
      );
    });
  }

  /**
   * Release of a holding we will not use; failures go to the `releaseFailed` hook. Resolves
   * `true` once the store answered (either way), `false` on an error or timeout. `close()` waits
   * for these before closing the backend.
   */
  giveBack(key: string, token: string, fence: number | undefined): Promise<boolean> {
    const host = this.#host;
    const done = this.within(key, token, fence).then(
      () => true,
      (error: unknown) => {
        callHook(host.hooks, 'releaseFailed', {
          key,
          error: toLeaseError(error, { backend: host.backend.name, operation: 'release', key }),
        });
        return false;
      },
    );
    this.inFlight(done);
    return done;
  }

  /** Counts `request` in flight until it settles (see `whenDrained`). */
  inFlight(request: Promise<unknown>): void {
    this.#pending++;
    request.then(this.#settled, this.#settled);
  }

  get pending(): number {
    return this.#pending;
  }

  /** Resolves once no store request is in flight. */
  whenDrained(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  readonly #settled = (): void => {
    if (--this.#pending > 0 || this.#drained.length === 0) return;
    const drained = this.#drained;
    this.#drained = [];
    for (const resolve of drained) resolve();
  };
}
