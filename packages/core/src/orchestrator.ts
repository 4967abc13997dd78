import type { LeaseBackend, RenewManyOutcome, TimeoutBackend } from './backend.js';
import { callBackend, canRenew } from './backend.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import {
  type LeaseError,
  LeaseLostError,
  type LeaseLostReason,
  NotHolderError,
  toLeaseError,
} from './errors.js';
import { MinHeap } from './heap.js';
import { callHook, type LockerHooks } from './hooks.js';
import type { LeaseHandle } from './lease.js';
import { Roster } from './roster.js';
import { endSpan, startSpan, type TracerLike } from './tracing.js';

/** The timing rules shared by acquisition and renewal. */
export interface Timing {
  /** Clock drift allowance: `ttl * driftFactor + driftFixedMs` is subtracted from validity. */
  readonly driftFactor: number;
  readonly driftFixedMs: number;
  /** Renew when this fraction of the TTL has passed since the last successful renewal was sent. */
  readonly renewFraction: number;
  /** Loss is declared this long before the local deadline; `undefined`: see `lossMargin()`. */
  readonly lossMarginMs: number | undefined;
  /** Renewals due within this window of each other go out together (one `renewMany`). */
  readonly batchWindowMs: number;
}

/** Local deadline for a grant whose request left at `sentAt` (monotonic ms). */
export function validityDeadline(
  timing: Timing,
  sentAt: number,
  ttlMs: number,
  backendBound?: number,
): number {
  if (ttlMs === Infinity) return Infinity;
  const own = sentAt + ttlMs - (ttlMs * timing.driftFactor + timing.driftFixedMs);
  return backendBound === undefined ? own : Math.min(own, backendBound);
}

/**
 * Smallest default loss margin, ms. The loss timer fires on the event loop, so it can be late by
 * whatever the loop is busy with when it falls due: a young-generation GC (a few ms), a
 * mark-compact of a large heap or a long synchronous task (JSON of a big body, a crypto call)
 * on a loaded machine, often 10 ms and more. A margin below that lets a loss signal fire after
 * the local deadline under ordinary load, so the floor is 20 ms: twice the ~10 ms a busy Node
 * process commonly stalls. (`held` reads the clock and is right whatever the timer does; the
 * margin is what makes `signal` and `onLost` come in time.) A floor of a timer tick or two is too
 * small for exactly that reason.
 */
export const LOSS_MARGIN_FLOOR_MS = 20;

/**
 * The default loss margin: 5% of the TTL, at least `LOSS_MARGIN_FLOOR_MS` and at most 1 s; but
 * never more than a quarter of the TTL, so that a very short lease (under 80 ms, where no margin
 * can absorb a stalled loop) still has most of its validity.
 */
export function lossMargin(timing: Timing, ttlMs: number): number {
  if (timing.lossMarginMs !== undefined) return timing.lossMarginMs;
  return Math.min(1_000, ttlMs / 4, Math.max(LOSS_MARGIN_FLOOR_MS, ttlMs * 0.05));
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A lease's place in the agenda: each lease has one for its loss time and one for its next renewal. */
export class AgendaNode {
  at: number = Infinity;
  index: number = -1;
  readonly kind: 'renew' | 'loss';
  readonly handle: LeaseHandle;

  constructor(kind: 'renew' | 'loss', handle: LeaseHandle) {
    this.kind = kind;
    this.handle = handle;
  }
}

export interface OrchestratorHost {
  readonly backend: TimeoutBackend;
  readonly timing: Timing;
  readonly hooks: LockerHooks | undefined;
  tracer(): TracerLike | undefined;
  /** Called once when a lease is declared lost (after its signal aborted). */
  lost(handle: LeaseHandle, error: LeaseLostError): void;
}

/**
 * One scheduler for every lease a locker holds: a min-heap agenda of renewal and loss times
 * behind a single timer. Renewals falling due together are sent as one batch (`renewMany`).
 * Loss is declared at `lossAt`, before the local deadline, whether or not a renewal is still
 * in flight; a renewal answering after that is not trusted.
 */
export class RenewalOrchestrator {
  readonly #host: OrchestratorHost;
  readonly #agenda = new MinHeap<AgendaNode>();
  readonly #tracked = new Roster<LeaseHandle>('trackedSlot');
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  constructor(host: OrchestratorHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#tracked.size;
  }

  track(handle: LeaseHandle): void {
    this.#tracked.add(handle);
    this.#plan(handle);
  }

  untrack(handle: LeaseHandle): void {
    this.#tracked.delete(handle);
    if (handle.lossNode) this.#agenda.remove(handle.lossNode);
    if (handle.renewNode) this.#agenda.remove(handle.renewNode);
    if (this.#tracked.size === 0) {
      // The timer stays, unreferenced, for the next lease (likely due later, so it needs no
      // timer of its own): a caller taking one lock at a time would otherwise set and clear a
      // timer per lease (see `Deadlines` for why that costs). Firing with no lease, it ends.
      this.#timer?.unref();
    }
  }

  /** Extends one lease now (the lease's own `renew()`); waits for an automatic renewal in flight first. */
  async renewNow(handle: LeaseHandle, ttlMs: number): Promise<void> {
    while (handle.inflight) await handle.inflight;
    this.check(handle);
    if (handle.state !== 'held') throw this.#notHeld(handle);
    const backend = this.#host.backend as LeaseBackend;
    handle.ttlMs = ttlMs;
    const sentAt = performance.now();
    handle.renewalsSent++;
    // A shorter TTL may take effect in the store even if its answer is lost: from now on the
    // local deadline can only be the earlier of the two.
    const shortened = validityDeadline(this.#host.timing, sentAt, ttlMs);
    if (shortened < handle.deadline) {
      handle.deadline = shortened;
      handle.lossAt = shortened - lossMargin(this.#host.timing, ttlMs);
      this.#plan(handle);
    }
    let outcome: RenewManyOutcome;
    const done = callBackend(() =>
      backend.renew({ key: handle.key, token: handle.token, fence: handle.fence }, ttlMs),
    ).then(
      (result) => {
        outcome = result;
      },
      (error: unknown) => {
        outcome = { status: 'error', error };
      },
    );
    handle.inflight = done;
    await done;
    handle.inflight = undefined;
    const error = this.#settle(handle, sentAt, outcome!, 1);
    if (handle.state !== 'held') throw this.#notHeld(handle);
    if (error) throw error;
  }

  #notHeld(handle: LeaseHandle): LeaseError {
    return (
      handle.lostError ??
      new NotHolderError('the lease was released', {
        backend: this.#host.backend.name,
        operation: 'renew',
        key: handle.key,
      })
    );
  }

  /** Declares loss now if the lease's loss point has passed but its timer has not fired yet. */
  check(handle: LeaseHandle): void {
    if (handle.state === 'held' && performance.now() >= handle.lossAt)
      this.#lose(handle, this.#expiryReason(handle));
  }

  stop(): void {
    this.#clearTimer();
    this.#agenda.clear();
    this.#tracked.clear();
  }

  #plan(handle: LeaseHandle): void {
    handle.lossNode = this.#schedule(handle.lossNode, 'loss', handle, handle.lossAt);
    const renewAt = handle.inflight ? Infinity : handle.renewAt;
    handle.renewNode = this.#schedule(handle.renewNode, 'renew', handle, renewAt);
    this.#arm();
  }

  /** Puts the lease's node of this kind at `at` (out of the agenda for Infinity). */
  #schedule(
    node: AgendaNode | undefined,
    kind: 'renew' | 'loss',
    handle: LeaseHandle,
    at: number,
  ): AgendaNode | undefined {
    if (at === Infinity) {
      if (node) this.#agenda.remove(node);
      return node;
    }
    node ??= new AgendaNode(kind, handle);
    node.at = at;
    this.#agenda.set(node);
    return node;
  }

  #arm(): void {
    const top = this.#agenda.peek();
    if (!top) {
      this.#clearTimer();
      return;
    }
    if (this.#timer && this.#timerAt <= top.at) {
      this.#timer.ref();
      return;
    }
    this.#clearTimer();
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, top.at - performance.now()));
    this.#timerAt = top.at;
    // Referenced on purpose: a held lease is live work, and its loss signal must be able to fire
    // even when nothing else keeps the process up. Unreferenced with the last lease (`untrack`).
    this.#timer = setTimeout(() => this.#tick(), delay);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #tick(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    const due: LeaseHandle[] = [];
    for (let top = this.#agenda.peek(); top; top = this.#agenda.peek()) {
      if (top.at > now + (top.kind === 'renew' ? this.#host.timing.batchWindowMs : 0)) break;
      this.#agenda.pop();
      const handle = top.handle;
      if (top.kind === 'loss') {
        this.check(handle);
      } else if (handle.state === 'held' && !handle.inflight) {
        due.push(handle);
      }
    }
    if (due.length > 0) this.#renewBatch(due.filter((handle) => handle.state === 'held'));
    this.#arm();
  }

  #renewBatch(handles: LeaseHandle[]): void {
    if (handles.length === 0) return;
    const backend = this.#host.backend;
    if (!canRenew(backend)) return;
    const tracer = this.#host.tracer();
    const span =
      tracer &&
      startSpan(tracer, 'leasekit.renew', {
        'leasekit.backend': backend.name,
        'leasekit.batch_size': handles.length,
      });
    const sentAt = performance.now();
    for (const handle of handles) handle.renewalsSent++;
    const items = handles.map((handle) => ({
      lease: { key: handle.key, token: handle.token, fence: handle.fence },
      ttlMs: handle.ttlMs,
    }));
    const renewMany = backend.renewMany?.bind(backend);
    const request: Promise<readonly RenewManyOutcome[]> =
      renewMany && items.length > 1
        ? callBackend(() => renewMany(items))
        : Promise.all(
            items.map((item) =>
              callBackend(() => backend.renew(item.lease, item.ttlMs)).then(
                (outcome): RenewManyOutcome => outcome,
                (error: unknown): RenewManyOutcome => ({ status: 'error', error }),
              ),
            ),
          );
    const done = request
      .then(
        (outcomes) => outcomes,
        (error: unknown) => handles.map((): RenewManyOutcome => ({ status: 'error', error })),
      )
      .then((outcomes) => {
        let failed: unknown;
        handles.forEach((handle, i) => {
          handle.inflight = undefined;
          const outcome = outcomes[i] ?? {
            status: 'error',
            error: new Error('renewMany returned too few results'),
          };
          failed ??= this.#settle(handle, sentAt, outcome, handles.length);
        });
        endSpan(span, failed);
      });
    for (const handle of handles) handle.inflight = done;
  }

  /** Applies a renewal's outcome. Returns the transient error, if that is what it was. */
  #settle(handle: LeaseHandle, sentAt: number, outcome: RenewManyOutcome, batchSize: number): unknown {
    if (handle.state !== 'held') return undefined;
    const now = performance.now();
    if (now >= handle.lossAt) {
      this.#lose(handle, outcome.status === 'renewed' ? 'late-renewal' : this.#expiryReason(handle));
      return undefined;
    }
    const { backend, timing, hooks } = this.#host;
    if (outcome.status === 'renewed') {
      handle.failures = 0;
      handle.deadline = validityDeadline(timing, sentAt, handle.ttlMs, outcome.validUntil);
      handle.lossAt = handle.deadline - lossMargin(timing, handle.ttlMs);
      if (handle.mode === 'lease') {
        const renewAt = sentAt + handle.ttlMs * timing.renewFraction;
        handle.renewAt = renewAt < handle.lossAt ? renewAt : sentAt + (handle.lossAt - sentAt) / 2;
      }
      callHook(hooks, 'renewed', { key: handle.key, durationMs: now - sentAt, batchSize });
      this.#plan(handle);
      return undefined;
    }
    if (outcome.status === 'lost') {
      this.#lose(handle, 'taken', outcome.detail, outcome.cause);
      return undefined;
    }
    const error = toLeaseError(outcome.error, { backend: backend.name, operation: 'renew', key: handle.key });
    if (!error.retryable) {
      this.#lose(handle, 'taken', error.message, error);
      return undefined;
    }
    handle.failures++;
    callHook(hooks, 'renewFailed', { key: handle.key, error, remainingMs: handle.lossAt - now });
    if (handle.mode === 'lease') {
      // Retry soon, with backoff; the loss entry still stands at lossAt.
      const ttl = handle.ttlMs;
      const policy: BackoffPolicy = {
        initialMs: Math.max(5, ttl / 50),
        maxMs: Math.max(10, ttl / 10),
        maxJitterMs: ttl / 100,
      };
      handle.renewAt = now + backoffDelay(handle.failures - 1, policy);
      this.#plan(handle);
    }
    return error;
  }

  /** Declares a held lease lost now: the store said so outside a renewal (a hand-over's answer). */
  lose(handle: LeaseHandle, reason: LeaseLostReason, detail?: string, cause?: unknown): void {
    this.#lose(handle, reason, detail, cause);
  }

  #expiryReason(handle: LeaseHandle): LeaseLostReason {
    return handle.mode === 'timeout' ? 'expired' : 'renewal-failed';
  }

  #lose(handle: LeaseHandle, reason: LeaseLostReason, detail?: string, cause?: unknown): void {
    const message =
      detail ??
      {
        expired: 'the timeout lock reached its local deadline',
        taken: 'the store no longer holds this lease for us',
        'renewal-failed': `no renewal succeeded before the local deadline (${handle.failures} failed attempts)`,
        'late-renewal': 'a renewal answered after the local deadline and is not trusted',
        closed: 'the locker was closed',
      }[reason];
    const error = new LeaseLostError(reason, message, {
      backend: this.#host.backend.name,
      operation: reason === 'expired' ? 'expire' : 'renew',
      key: handle.key,
      cause,
    });
    if (!handle.markLost(error)) return;
    this.untrack(handle);
    this.#host.lost(handle, error);
  }
}
