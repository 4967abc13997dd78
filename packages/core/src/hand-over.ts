import { type AnyBackend, callBackend, canRenew, type HandOverOutcome } from './backend.js';
import { callHook, type LockerHooks } from './hooks.js';
import { LeaseHandle, type LeaseMode, type LeaseOwner } from './lease.js';
import { lossMargin, type Timing, validityDeadline } from './orchestrator.js';
import type { WaitTicket } from './wait-queue.js';

/**
 * Local hand-overs (`LockerOptions.localHandOvers`): when a caller of a locker waits for a key
 * another caller of it holds, the store is asked, while the holder works, to extend the holding
 * and draw the next fences; the holder's release then passes the holding to the waiter with no
 * round trip. This module owns that protocol and its state; the locker asks it two things:
 * `prepare` (a waiter queued behind a holder of this locker) and `passOn` (a holder releases).
 *
 * Why it is safe:
 * - the store extended the holding, under the holder's condition, *before* the holder let go, so
 *   the key is never free in the store between the two holders;
 * - the new holder's validity counts from when that request left, as for any renewal, and it
 *   takes the extension only while it is recent enough to give it what it asked for;
 * - a renewal sent after the request (it may apply after it, with another TTL) makes the
 *   extension unusable;
 * - with fencing, the request drew a block of fences above the holder's, one per next holder.
 *
 * Why runs are bounded: a run of hand-overs keeps the key from other processes, which the store
 * never sees waiting while it is held. One request serves at most `localHandOvers` holders; then
 * the key goes back to the store (and the next local waiter pauses one round trip, so that a
 * waiter elsewhere, woken by the store's release hint, has its attempt in first), unless the
 * store said that nobody else waits: then the run goes on with another request, for at most
 * `retry.max`, the longest a waiter elsewhere that the store cannot see sleeps between attempts.
 */

/** What a waiter asks for, as far as a hand-over is concerned. */
export interface HandOverRequest {
  readonly ttlMs: number;
  readonly mode: LeaseMode;
  readonly owner: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onLost: LeaseHandle['onLost'];
  /** When the waiting began (monotonic ms), and the store attempts it made: for the `acquired` hook. */
  readonly startedAt: number;
  readonly attempts: number;
}

/**
 * A block of hand-overs of a holding to this locker's next waiters, asked of the store while a
 * holder works: an extension of the holding and a block of fences, one per next holder.
 */
interface Block {
  /** When the request left (monotonic ms): the next holders' validity counts from here. */
  readonly sentAt: number;
  /** When the run's first block was asked for: a run goes on for a bounded time. */
  readonly runStartedAt: number;
  readonly ttlMs: number;
  /** Fences asked for: one per hand-over it can serve. */
  readonly count: number;
  /**
   * Asked by the last holder of an earlier block of the run (the store had said nobody else
   * waited): used only if the store says so again.
   */
  readonly continues: boolean;
  /** Hand-overs served so far. */
  used: number;
  /** The answer, once there is one. */
  outcome: HandOverOutcome | { readonly status: 'error'; readonly error: unknown } | undefined;
  /** Settles (never rejects) once answered. */
  settled: Promise<void>;
}

/**
 * A holding's part in local hand-overs: `LeaseHandle.handOver`, opaque to everyone else. Made
 * only for holdings that meet a local waiter (most leases never do), and passed on with the
 * holding to each next holder of a run.
 */
export class HandOverState {
  /** The block this holder took the key from (`undefined`: it acquired it from the store). */
  run: Block | undefined = undefined;
  /** The hand-overs to the next waiters, once asked for (shared by the holders a block serves). */
  next: Block | undefined = undefined;
  /**
   * The holder's `renewalsSent` when `next` became its: a renewal sent since may apply after the
   * request and set another TTL, so what the request extended can no longer be counted on.
   */
  renewalsAt = 0;
}

/** What the hand-overs need from their locker. */
export interface HandOverHost {
  readonly backend: AnyBackend;
  readonly timing: Timing;
  /** `localHandOvers`: hand-overs one store request serves (0: off). */
  readonly blockSize: number;
  /** `retry.max`: longest a run of hand-overs goes on past its first block. */
  readonly runMaxMs: number;
  readonly releaseTimeoutMs: number;
  readonly hooks: LockerHooks | undefined;
  /** The first in line for `key` among this locker's waiters, if anyone waits. */
  head(key: string): WaitTicket<LeaseHandle, HandOverRequest> | undefined;
  /** What a new holder's handle calls back into. */
  readonly owner: LeaseOwner;
  closed(): boolean;
  /** The store said the holding is not `holder`'s any more: it has lost it. */
  lose(holder: LeaseHandle, detail: string | undefined, cause: unknown): void;
  /** Counts a store request in flight until it settles (`close()` waits for them). */
  inFlight(request: Promise<unknown>): void;
  /** Makes `successor`, handed the key, one of the locker's held leases. */
  adopt(successor: LeaseHandle): void;
}

/** The store answered a hand-over request saying that nobody else waits for the key. */
function uncontended(block: Block): boolean {
  return block.outcome?.status === 'renewed' && block.outcome.contended === false;
}

/** Waits for `promise` to settle, but no longer than `ms`. */
export function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class LocalHandOvers {
  readonly #host: HandOverHost;

  constructor(host: HandOverHost) {
    this.#host = host;
  }

  /**
   * `request` waits for a key `holder` (of this locker) holds: asks the store, while the holder
   * works, to extend its holding and draw a block of fences, one for each next holder the
   * `localHandOvers` budget allows, so that each release can hand the holding over at once. One
   * request serves a block; the block's last holder asks for the next one if the store said that
   * nobody else waited. Not sent while a renewal of the holding is in flight.
   */
  prepare(holder: LeaseHandle, request: HandOverRequest): void {
    const host = this.#host;
    const backend = host.backend;
    if (!canRenew(backend) || !backend.handOver) return;
    if (holder.handOver?.next || holder.state !== 'held' || holder.inflight || host.closed()) return;
    const count = host.blockSize;
    const run = holder.handOver?.run;
    if (count === 0 || (run && !this.#goesOn(run))) return;
    // Only for the TTL the holding already has: one shorter would cut what the holder counts on
    // (in the store, whatever the answer), and a renewal of the holder applied late only extends.
    if (request.ttlMs !== holder.ttlMs || request.ttlMs === Infinity || request.owner !== holder.owner)
      return;
    const sentAt = performance.now();
    const next: Block = {
      sentAt,
      runStartedAt: run ? run.runStartedAt : sentAt,
      ttlMs: request.ttlMs,
      count,
      continues: run !== undefined,
      used: 0,
      outcome: undefined,
      settled: undefined!,
    };
    let state = holder.handOver;
    if (!state) {
      state = new HandOverState();
      holder.handOver = state;
    }
    state.next = next;
    state.renewalsAt = holder.renewalsSent;
    const ref = { key: holder.key, token: holder.token, fence: holder.fence };
    const asked = callBackend(() => backend.handOver!(ref, request.ttlMs, count));
    next.settled = asked.then(
      (outcome) => {
        next.outcome = outcome;
        // Not ours on the store any more: as a renewal saying so, the holder has lost it.
        if (outcome.status === 'lost') host.lose(holder, outcome.detail, outcome.cause);
      },
      (error: unknown) => {
        next.outcome = { status: 'error', error };
      },
    );
    host.inFlight(next.settled);
  }

  /**
   * `holder` is being released: passes its holding on to the next waiter if it can, at once or
   * once the hand-over request in flight answers. `undefined`: nothing to pass on, release it in
   * the store. Otherwise the release's result; when the wait ends with nothing usable,
   * `release(holder, msLeft)` releases in the store within what is left of the release bound.
   */
  passOn(
    holder: LeaseHandle,
    release: (holder: LeaseHandle, msLeft: number) => Promise<boolean>,
  ): Promise<boolean> | undefined {
    const state = holder.handOver;
    const next = state?.next;
    if (!state || !next) return undefined;
    if (next.outcome === undefined) {
      const taker = this.#takerOf(holder, state, next);
      const usableFor = taker ? this.#usableUntil(next, taker.request!) - performance.now() : 0;
      if (usableFor > 0) {
        // The hand-over is on its way and the next waiter can take it: wait for the answer (as
        // long as it could still be used, and at most half the release bound). A release that
        // does not wait would have the store apply the hand-over first, Redis, or refuse it
        // after: the token is gone. The key stays marked as held here meanwhile, so nobody of
        // this locker polls the store.
        const passing = this.#passOnAnswered(
          holder,
          state,
          next,
          Math.min(usableFor, this.#host.releaseTimeoutMs / 2),
          release,
        );
        // It may still release in the store: close() lets it finish before closing the backend.
        this.#host.inFlight(passing);
        return passing;
      }
    }
    return this.#handOver(holder, state, next, performance.now()) ? Promise.resolve(true) : undefined;
  }

  /**
   * A hand-over was asked for `holder`'s holding: the store may hold it past the holder's own
   * deadline (a timeout lock that runs out then must be released in the store).
   */
  extended(holder: LeaseHandle): boolean {
    return holder.handOver?.next !== undefined;
  }

  /**
   * `holder`, released in the store, was the last of a run of hand-overs (by count, or ended
   * early): this locker's next waiter waits one more round trip after the release's answer, so
   * that a waiter elsewhere, woken by the store's release hint at about the time that answer
   * came, has its attempt in first. Not when the store's last word was that nobody else waited:
   * the answer to the holding's latest hand-over request (a run's next block not answered, or
   * failed: cannot tell, so pause).
   */
  pausesNextWaiter(holder: LeaseHandle): boolean {
    const state = holder.handOver;
    // Only the last of a run (one that took the key by hand-over) pauses anyone.
    if (!state?.run) return false;
    const next = state.next;
    const latest = next?.continues || next?.outcome?.status === 'renewed' ? next : state.run;
    return !(latest && uncontended(latest));
  }

  async #passOnAnswered(
    holder: LeaseHandle,
    state: HandOverState,
    next: Block,
    waitMs: number,
    release: (holder: LeaseHandle, msLeft: number) => Promise<boolean>,
  ): Promise<boolean> {
    const started = performance.now();
    await settleWithin(next.settled, waitMs);
    if (this.#handOver(holder, state, next, started)) return true;
    return release(holder, this.#host.releaseTimeoutMs - (performance.now() - started));
  }

  /** The run `block` belongs to may go on with another block once `block` is used up. */
  #goesOn(block: Block): boolean {
    return (
      block.used >= block.count &&
      uncontended(block) &&
      performance.now() - block.runStartedAt < this.#host.runMaxMs
    );
  }

  /** Until when (monotonic ms) `next`'s extension may be handed to a waiter asking `request`. */
  #usableUntil(next: Block, request: HandOverRequest): number {
    const timing = this.#host.timing;
    // A lease waiter gets at least what a lease has when it is next due for renewal, a
    // timeout-lock waiter its whole TTL less at most the loss margin.
    const maxAge =
      request.mode === 'lease' ? next.ttlMs * timing.renewFraction : lossMargin(timing, next.ttlMs);
    return next.sentAt + maxAge;
  }

  /**
   * The head of the key's queue, if it can take `holder`'s holding through `next` (whatever the
   * store answers): asleep, asking the extended TTL and owner; and nothing since made the
   * extension unsafe (a renewal sent after it, or in flight).
   */
  #takerOf(
    holder: LeaseHandle,
    state: HandOverState,
    next: Block,
  ): WaitTicket<LeaseHandle, HandOverRequest> | undefined {
    if (this.#host.closed() || holder.inflight || next.used >= next.count) return undefined;
    if (holder.renewalsSent !== state.renewalsAt) return undefined;
    const ticket = this.#host.head(holder.key);
    const request = ticket?.request;
    if (!ticket?.sleeping || !request || request.signal?.aborted) return undefined;
    if (request.ttlMs !== next.ttlMs || request.owner !== holder.owner) return undefined;
    return ticket;
  }

  /**
   * Hands `holder`'s holding to the head of the key's queue, with no I/O, if it is safe:
   * - the store extended the holding and, when fencing, drew a block of fences above the
   *   holder's, of which one is left;
   * - no renewal of the holding was sent after that request (it could apply after it) nor is in
   *   flight;
   * - the head is asleep and asks for what was extended: the same TTL and owner;
   * - the extension is recent (see `#usableUntil`).
   * The new holder's validity counts from when that request left, as for any renewal.
   */
  #handOver(holder: LeaseHandle, state: HandOverState, next: Block, releasedAt: number): boolean {
    const outcome = next.outcome;
    if (outcome?.status !== 'renewed') return false;
    // A run's next block, asked because nobody else waited: somebody does now, so the run ends
    // here and the key goes back to the store, as after a first block.
    if (next.continues && outcome.contended !== false) return false;
    const ticket = this.#takerOf(holder, state, next);
    const request = ticket?.request;
    if (!ticket || !request) return false;
    const host = this.#host;
    // The block's fences in order: the lowest is above every fence handed out before it.
    const fence = outcome.fence === undefined ? undefined : outcome.fence - next.count + 1 + next.used;
    if (host.backend.capabilities.fencing && !(fence !== undefined && fence > (holder.fence ?? 0)))
      return false;
    const timing = host.timing;
    const now = performance.now();
    if (now >= this.#usableUntil(next, request)) return false;
    const deadline = validityDeadline(timing, next.sentAt, next.ttlMs, outcome.validUntil);
    const lossAt = deadline - lossMargin(timing, next.ttlMs);
    if (now >= lossAt) return false;
    const successor = new LeaseHandle(host.owner, {
      key: holder.key,
      token: holder.token,
      fence,
      mode: request.mode,
      ttlMs: next.ttlMs,
      acquiredAt: now,
      deadline,
      lossAt,
      onLost: request.onLost,
      owner: request.owner,
    });
    if (request.mode === 'lease') {
      const renewAt = next.sentAt + next.ttlMs * timing.renewFraction;
      successor.renewAt = renewAt < lossAt ? renewAt : now + (lossAt - now) / 2;
    }
    if (!ticket.grant(successor)) return false;
    next.used++;
    // The state moves on with the holding (the released holder needs it no more): one object per
    // run of holders, not one per hand-over.
    holder.handOver = undefined;
    state.run = next;
    // The rest of the block serves the next hand-overs, from this holder on.
    state.next = next.used < next.count ? next : undefined;
    state.renewalsAt = 0;
    successor.handOver = state;
    host.adopt(successor);
    callHook(host.hooks, 'released', {
      key: holder.key,
      heldMs: releasedAt - holder.acquiredAt,
      durationMs: now - releasedAt,
      wasHeld: true,
      handedOver: true,
    });
    callHook(host.hooks, 'acquired', {
      key: holder.key,
      mode: request.mode,
      fence,
      attempts: request.attempts,
      waitedMs: now - request.startedAt,
      durationMs: 0,
      handedOver: true,
    });
    return true;
  }
}
