import type { AnyBackend } from './backend.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Idle keys are swept once this many were added since the last sweep (and at least as many as were kept). */
const SWEEP_AFTER = 1024;

interface Queue<H> {
  /** Everyone of this locker waiting for the key, in arrival order. Only the head tries. */
  readonly tickets: WaitTicket<unknown, unknown>[];
  /** A release was signalled while the head was not asleep (its attempt in flight): it retries at once. */
  missed: boolean;
  /** Stops the backend's `released` hint subscription for this key. */
  hint: AbortController | undefined;
  /** This locker's holding of the key, if it holds it now (a lock: at most one). */
  holder: H | undefined;
}

/**
 * Per-locker queues of callers waiting for a key, so a hot key is handed over in about one
 * round trip, in arrival order, without a thundering herd:
 * - only the head of a key's queue talks to the store; the others sleep until it is their turn,
 *   so N local waiters cost one poller, not N;
 * - a release wakes the head at once (a release or loss in this locker directly, one elsewhere
 *   through the backend's `released` hint), and a release that comes while its attempt is in
 *   flight is remembered, not lost;
 * - while this locker itself holds the key (its `holder`) nobody polls: its release or loss
 *   wakes the head, or hands it the lease (`grant`) without going through the store.
 * The head keeps a backoff timer while the holder is elsewhere, so a lost hint costs latency,
 * never progress.
 *
 * A key's entry stays when it falls idle (no waiter, no holder) and is reused when the key comes
 * back; idle entries are swept in bulk, after `SWEEP_AFTER` new keys. Deleting each entry as it
 * fell idle cost two inserts and two deletes in a Map per acquire (this table and the holder's),
 * and a Map churned like that keeps everything it held alive through young-generation GCs (see
 * `Roster`).
 */
export class WaitQueues<H = unknown, R = unknown> {
  readonly #backend: AnyBackend;
  readonly #queues = new Map<string, Queue<H>>();
  readonly #onHeld: ((holder: H, next: WaitTicket<H, R>) => void) | undefined;
  /**
   * A key this locker holds stays held until its own release or loss (false when other processes
   * may release or renew its holdings: a stateless lock service). Then nobody polls meanwhile.
   */
  readonly #holdersOwnTheKey: boolean;
  /** Entries added since the last sweep, and the threshold for the next one. */
  #added = 0;
  #sweepAt = SWEEP_AFTER;

  /**
   * `onHeld`: a waiter of this locker took the key and `next` is now first in line, asleep. It
   * stays asleep (the holder's release or loss wakes it or hands it the key); `onHeld` lets the
   * locker make the holding ready to pass on meanwhile. Without it, `next` is roused to look.
   */
  constructor(
    backend: AnyBackend,
    onHeld?: (holder: H, next: WaitTicket<H, R>) => void,
    options: { holdersOwnTheKey?: boolean } = {},
  ) {
    this.#backend = backend;
    this.#onHeld = onHeld;
    this.#holdersOwnTheKey = options.holdersOwnTheKey ?? true;
  }

  /** This locker holds `key`, and only its own release or loss can end that. */
  #heldHere(queue: Queue<unknown>): boolean {
    return queue.holder !== undefined && this.#holdersOwnTheKey;
  }

  /** Keys with an entry (waited for, held here, or idle and not swept yet). */
  get size(): number {
    return this.#queues.size;
  }

  /** This locker's holding of `key`, if any. */
  holder(key: string): H | undefined {
    return this.#queues.get(key)?.holder;
  }

  /**
   * Records that this locker now holds `key` through `holder`. A release-hint subscription left
   * from the wait ends: our own release or loss wakes the next waiter, and the subscription
   * would only count, in the store, as a waiter elsewhere.
   */
  hold(key: string, holder: H): void {
    const queue = this.#queue(key);
    queue.holder = holder;
    if (!this.#holdersOwnTheKey) return;
    queue.hint?.abort();
    queue.hint = undefined;
  }

  /** `holder` no longer holds `key` (no-op if a later holding replaced it). */
  unhold(key: string, holder: H): void {
    const queue = this.#queues.get(key);
    if (queue?.holder === holder) queue.holder = undefined;
  }

  /**
   * Joins the queue for `key` before the first attempt, so no local release slips by unseen.
   * `request` is what the waiter asks for, read by whoever hands it the key.
   */
  join(key: string, request?: R): WaitTicket<H, R> {
    const queue = this.#queue(key);
    const ticket = new WaitTicket<H, R>(this as WaitQueues, key, queue as Queue<unknown>, request);
    queue.tickets.push(ticket as WaitTicket<unknown, unknown>);
    return ticket;
  }

  /** The first in line for `key`, if anyone waits. */
  head(key: string): WaitTicket<H, R> | undefined {
    return this.#queues.get(key)?.tickets[0] as WaitTicket<H, R> | undefined;
  }

  /**
   * The key was (probably) released: wake the head of its queue, or let it know when it next
   * waits. Not while this locker holds the key (again): the head's attempt could only fail,
   * and that holder's release or loss wakes it. (A release's answer often arrives after the
   * next local holder already took the key in the same round trip.)
   */
  wake(key: string): void {
    const queue = this.#queues.get(key);
    if (!queue || this.#heldHere(queue as Queue<unknown>) || queue.tickets.length === 0) return;
    const head = queue.tickets[0]!;
    if (head.sleeping) head.rouse();
    else queue.missed = true;
  }

  /** Ends every wait (the locker is closing): each rejects with `error`. */
  abortAll(error: unknown): void {
    for (const queue of this.#queues.values()) {
      for (const ticket of [...queue.tickets]) ticket.abort(error);
    }
  }

  #queue(key: string): Queue<H> {
    let queue = this.#queues.get(key);
    if (!queue) {
      if (++this.#added >= this.#sweepAt) this.#sweep();
      queue = { tickets: [], missed: false, hint: undefined, holder: undefined };
      this.#queues.set(key, queue);
    }
    return queue;
  }

  /** Drops idle entries; the next sweep comes after as many new keys as were kept (at least SWEEP_AFTER). */
  #sweep(): void {
    for (const [key, queue] of this.#queues) {
      if (queue.tickets.length === 0 && queue.holder === undefined) this.#queues.delete(key);
    }
    this.#added = 0;
    this.#sweepAt = Math.max(SWEEP_AFTER, this.#queues.size);
  }

  /**
   * Subscribes to the backend's `released` hint for the key once the head sleeps (not before
   * every attempt: an uncontended acquire must not pay for a subscription), unless this locker
   * holds the key: then its own release or loss wakes the head, and a subscription would only
   * have the store echo every local hand-over back, for nothing (see bench/README.md, "History").
   * @internal
   */
  listen(key: string, queue: Queue<unknown>): void {
    const released = this.#backend.released;
    if (!released || queue.hint || this.#heldHere(queue)) return;
    const hint = new AbortController();
    queue.hint = hint;
    released.call(this.#backend, key, hint.signal).then(
      () => {
        if (hint.signal.aborted) return;
        queue.hint = undefined;
        // Ignored (by `wake`) when it is the store's echo of a release handed over locally.
        this.wake(key);
        // No re-subscription here: the head subscribes again when it next goes to sleep. (A
        // closed backend resolves the hint at once; re-subscribing here would spin forever.)
      },
      () => {
        if (queue.hint === hint) queue.hint = undefined;
      },
    );
  }

  /** @internal */
  remove(queue: Queue<unknown>, ticket: WaitTicket<unknown, unknown>, acquired: boolean): void {
    const wasHead = queue.tickets[0] === ticket;
    queue.tickets.splice(queue.tickets.indexOf(ticket), 1);
    if (queue.tickets.length === 0) {
      // Idle until the key comes back (or the next sweep): as a fresh entry would be.
      queue.missed = false;
      queue.hint?.abort();
      queue.hint = undefined;
      return;
    }
    if (!wasHead) return;
    if (acquired) {
      // The key is ours now: the next in line waits for our release, which will wake it or hand
      // it the key. It sleeps on, and the locker prepares that hand-over: waking it only to see
      // this cost a wake-up and a new sleep per hand-over, ahead of the new holder's own turn.
      queue.missed = false;
      const next = queue.tickets[0]!;
      const holder = queue.holder;
      if (holder !== undefined && next.sleeping && this.#onHeld && this.#holdersOwnTheKey) {
        this.#onHeld(holder as H, next as WaitTicket<H, R>);
      } else {
        next.rouse();
      }
    } else {
      // The head gave up or failed: the next in line takes over polling now.
      queue.missed = false;
      queue.tickets[0]?.rouse();
    }
  }
}

/** One `acquire` call's place in a key's wait queue. */
export class WaitTicket<H = unknown, R = unknown> {
  /** What the waiter asks for (see `WaitQueues.join`). */
  readonly request: R | undefined;
  /** The holding handed to this waiter by `grant`: it is the waiter's now. */
  granted: H | undefined;
  readonly #queues: WaitQueues;
  readonly #key: string;
  readonly #queue: Queue<unknown>;
  #wakeUp: ((woken: boolean) => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #left = false;

  constructor(queues: WaitQueues, key: string, queue: Queue<unknown>, request: R | undefined) {
    this.#queues = queues;
    this.#key = key;
    this.#queue = queue;
    this.request = request;
  }

  /** First in line: the only one of this locker's waiters for the key that talks to the store. */
  get isHead(): boolean {
    return this.#queue.tickets[0] === this;
  }

  get sleeping(): boolean {
    return this.#wakeUp !== undefined;
  }

  /** @internal */
  rouse(): void {
    this.#wakeUp?.(true);
  }

  /**
   * Hands this sleeping waiter the key's holding: its `wait` resolves `true`, and the waiter
   * must check `granted` before anything else. Only a sleeping waiter can take it (one whose
   * wait already ended may be on its way out with an error); `false`: not taken.
   */
  grant(holding: H): boolean {
    if (!this.#wakeUp) return false;
    this.granted = holding;
    this.#wakeUp(true);
    return true;
  }

  /** @internal */
  abort(error: unknown): void {
    this.#fail?.(error);
  }

  /**
   * Sleeps up to `ms`: resolves `true` when woken (a release, or the turn came), at once if a
   * release was missed while the head's attempt was in flight; `false` when the timer ran out.
   * Rejects with `signal.reason` on abort.
   */
  wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queue = this.#queue;
    if (this.isHead && queue.missed) {
      queue.missed = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve, reject) => {
      const settle = (woken: boolean, error?: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wakeUp = undefined;
        this.#fail = undefined;
        if (error === undefined) resolve(woken);
        else reject(error);
      };
      const onAbort = () => settle(false, signal!.reason);
      // Whole milliseconds: Node keeps one list per timer duration, so waiters that join with the
      // same wait share one (a fractional duration made a list, and a heap entry, per waiter).
      const timer = setTimeout(() => settle(false), Math.min(Math.ceil(ms), MAX_TIMER_MS));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#wakeUp = (woken) => settle(woken);
      this.#fail = (error) => settle(false, error);
      if (this.isHead) this.#queues.listen(this.#key, queue);
    });
  }

  /** Leaves the queue: acquired, gave up or failed. */
  leave(acquired: boolean): void {
    if (this.#left) return;
    this.#left = true;
    this.#queues.remove(this.#queue, this, acquired);
  }
}
