import type { Duration } from './duration.js';
import { LeaseLostError } from './errors.js';
import type { HandOverState } from './hand-over.js';
import type { AgendaNode } from './orchestrator.js';

/**
 * - `'timeout'`: a timeout lock. Held until released or until its TTL runs out; never renewed
 *   automatically (`lease.renew()` extends it by hand). If the holder stalls, the lock frees
 *   itself: pick it when the work has a known, short upper bound.
 * - `'lease'`: a lease lock. Renewed in the background while held; lost only when renewal
 *   fails, and then `signal` aborts before the lease can have expired. Pick it for work of
 *   unknown or long duration, and watch `signal`.
 */
export type LeaseMode = 'timeout' | 'lease';

/** A held lock. Dispose it (`await using`) or call `release()`. */
export interface Lease extends AsyncDisposable {
  readonly key: string;
  /**
   * Random token identifying this holding in the store. Holders that took it from one another by
   * local hand-over share it (the store holding is the same); their fences differ.
   */
  readonly token: string;
  /**
   * Fencing token, strictly increasing across successive holders of this key (when the backend
   * supports fencing, else `undefined`). Pass it to the resource you protect and have it reject
   * writes carrying a smaller one.
   */
  readonly fence: number | undefined;
  readonly mode: LeaseMode;
  /** Aborts, with a `LeaseLostError` as reason, when the lease is lost or about to expire. */
  readonly signal: AbortSignal;
  /** Wall-clock estimate (epoch ms) of the local deadline: never later than the store's expiry. */
  readonly expiresAt: number;
  /** Milliseconds of validity left on the local monotonic clock (0 once lost or released). */
  readonly remainingMs: number;
  /** True while held and within validity. */
  readonly held: boolean;
  /** Throws the `LeaseLostError` (or a `NotHolderError` after release) unless `held`. */
  assertHeld(): void;
  /** Extends the lease to `ttl` (default: its TTL) from now. Rejects with `LeaseLostError` when lost. */
  renew(ttl?: Duration): Promise<void>;
  /** Releases the lock: `true` when this holding was still in the store and is now gone. Idempotent. */
  release(): Promise<boolean>;
}

export type LeaseState = 'held' | 'lost' | 'released';

/** What a lease handle calls back into (implemented by the locker). */
export interface LeaseOwner {
  renewLease(handle: LeaseHandle, ttl: Duration | undefined): Promise<void>;
  releaseLease(handle: LeaseHandle): Promise<boolean>;
  /** Declares the lease lost now if its loss point has passed (a late timer). */
  checkLease(handle: LeaseHandle): void;
}

export class LeaseHandle implements Lease {
  readonly key: string;
  readonly token: string;
  readonly fence: number | undefined;
  readonly mode: LeaseMode;
  readonly acquiredAt: number;
  /** What the holder passed as `owner` (stored with the holding where the backend can). */
  readonly owner: string | undefined;
  readonly onLost: ((error: LeaseLostError) => void) | undefined;
  ttlMs: number;
  /** Local validity deadline, monotonic ms. */
  deadline: number;
  /** When loss is declared if not renewed: shortly before `deadline`. */
  lossAt: number;
  /** Next renewal, monotonic ms (Infinity: none scheduled). */
  renewAt: number = Infinity;
  /** Its part in local hand-overs (see `hand-over.ts`; made only when it meets a local waiter). */
  handOver: HandOverState | undefined;
  /** Renewals sent so far (a renewal sent after a hand-over was asked for makes it unusable). */
  renewalsSent: number = 0;
  /** Consecutive failed renewals. */
  failures: number = 0;
  state: LeaseState = 'held';
  /** Its places in the renewal orchestrator's agenda (made on first use, then reused). */
  lossNode: AgendaNode | undefined;
  renewNode: AgendaNode | undefined;
  inflight: Promise<void> | undefined;
  lostError: LeaseLostError | undefined;
  releasing: Promise<boolean> | undefined;
  /** Index in the locker's roster of held leases (-1: not there). */
  heldSlot: number = -1;
  /** Index in the renewal orchestrator's roster of tracked leases (-1: not there). */
  trackedSlot: number = -1;
  /**
   * Made when `signal` is first read: most leases are released without anyone reading it, and
   * an AbortSignal is an EventTarget with two Maps of its own.
   */
  #controller: AbortController | undefined;
  readonly #owner: LeaseOwner;

  constructor(
    owner: LeaseOwner,
    init: {
      key: string;
      token: string;
      fence: number | undefined;
      mode: LeaseMode;
      ttlMs: number;
      acquiredAt: number;
      deadline: number;
      lossAt: number;
      onLost: ((error: LeaseLostError) => void) | undefined;
      owner?: string | undefined;
    },
  ) {
    this.#owner = owner;
    this.key = init.key;
    this.token = init.token;
    this.fence = init.fence;
    this.mode = init.mode;
    this.ttlMs = init.ttlMs;
    this.acquiredAt = init.acquiredAt;
    this.owner = init.owner;
    this.deadline = init.deadline;
    this.lossAt = init.lossAt;
    this.onLost = init.onLost;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      // Lost before anyone looked: the signal is born aborted, with the same reason.
      if (this.lostError) this.#controller.abort(this.lostError);
    }
    return this.#controller.signal;
  }

  get expiresAt(): number {
    if (this.deadline === Infinity) return Infinity;
    return Date.now() + (this.deadline - performance.now());
  }

  get remainingMs(): number {
    if (!this.held) return 0;
    return Math.max(0, this.deadline - performance.now());
  }

  get held(): boolean {
    if (this.state !== 'held') return false;
    this.#owner.checkLease(this);
    return this.state === 'held';
  }

  assertHeld(): void {
    if (this.held) return;
    if (this.lostError) throw this.lostError;
    throw new LeaseLostError('expired', 'the lease was released', { key: this.key, operation: 'assert' });
  }

  renew(ttl?: Duration): Promise<void> {
    return this.#owner.renewLease(this, ttl);
  }

  release(): Promise<boolean> {
    return this.#owner.releaseLease(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** Marks the lease lost and aborts its signal. Returns false if it was no longer held. */
  markLost(error: LeaseLostError): boolean {
    if (this.state !== 'held') return false;
    this.state = 'lost';
    this.lostError = error;
    this.#controller?.abort(error);
    return true;
  }
}
