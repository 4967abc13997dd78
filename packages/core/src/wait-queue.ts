import type { AnyBackend } from './backend.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

interface Queue {
  /** Everyone of this locker waiting for the key, in arrival order. Only the head tries. */
  readonly tickets: WaitTicket[];
  /** A release was signalled while the head was not asleep (its attempt in flight): it retries at once. */
  missed: boolean;
  /** Stops the backend's `released` hint subscription for this key. */
  hint: AbortController | undefined;
}

/**
 * Per-locker queues of callers waiting for a key, so a hot key is handed over in about one
 * round trip, in arrival order, without a thundering herd:
 * - only the head of a key's queue talks to the store; the others sleep until it is their turn,
 *   so N local waiters cost one poller, not N;
 * - a release wakes the head at once (a release or loss in this locker directly, one elsewhere
 *   through the backend's `released` hint), and a release that comes while its attempt is in
 *   flight is remembered, not lost;
 * - while this locker itself holds the key nobody polls: its release or loss wakes the head.
 * The head keeps a backoff timer while the holder is elsewhere, so a lost hint costs latency,
 * never progress.
 */
export class WaitQueues {
  readonly #backend: AnyBackend;
  readonly #queues = new Map<string, Queue>();
  readonly #heldHere: (key: string) => boolean;

  /** `heldHere(key)`: this locker holds the key now, so a release hint for it is stale. */
  constructor(backend: AnyBackend, heldHere: (key: string) => boolean) {
    this.#backend = backend;
    this.#heldHere = heldHere;
  }

  /** Joins the queue for `key` before the first attempt, so no local release slips by unseen. */
  join(key: string): WaitTicket {
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = { tickets: [], missed: false, hint: undefined };
      this.#queues.set(key, queue);
    }
    const ticket = new WaitTicket(this, key, queue);
    queue.tickets.push(ticket);
    return ticket;
  }

  /**
   * The key was (probably) released: wake the head of its queue, or let it know when it next
   * waits. Not while this locker holds the key (again): the head's attempt could only fail,
   * and that holder's release or loss wakes it. (A release's answer often arrives after the
   * next local holder already took the key in the same round trip.)
   */
  wake(key: string): void {
    if (this.#heldHere(key)) return;
    const queue = this.#queues.get(key);
    if (!queue) return;
    const head = queue.tickets[0];
    if (head?.sleeping) head.rouse();
    else queue.missed = true;
  }

  /** Ends every wait (the locker is closing): each rejects with `error`. */
  abortAll(error: unknown): void {
    for (const queue of this.#queues.values()) {
      for (const ticket of [...queue.tickets]) ticket.abort(error);
    }
  }

  /**
   * Subscribes to the backend's `released` hint for the key once the head sleeps (not before
   * every attempt: an uncontended acquire must not pay for a subscription).
   * @internal
   */
  listen(key: string, queue: Queue): void {
    const released = this.#backend.released;
    if (!released || queue.hint) return;
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
  remove(key: string, queue: Queue, ticket: WaitTicket, acquired: boolean): void {
    const wasHead = queue.tickets[0] === ticket;
    queue.tickets.splice(queue.tickets.indexOf(ticket), 1);
    if (queue.tickets.length === 0) {
      queue.hint?.abort();
      if (this.#queues.get(key) === queue) this.#queues.delete(key);
      return;
    }
    if (!wasHead) return;
    if (acquired) {
      // The key is ours now: the next in line waits for our release, which will wake it.
      queue.missed = false;
    } else {
      // The head gave up or failed: the next in line takes over polling now.
      queue.missed = false;
      queue.tickets[0]?.rouse();
    }
  }
}

/** One `acquire` call's place in a key's wait queue. */
export class WaitTicket {
  readonly #queues: WaitQueues;
  readonly #key: string;
  readonly #queue: Queue;
  #wakeUp: ((woken: boolean) => void) | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #left = false;

  constructor(queues: WaitQueues, key: string, queue: Queue) {
    this.#queues = queues;
    this.#key = key;
    this.#queue = queue;
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
      const timer = setTimeout(() => settle(false), Math.min(ms, MAX_TIMER_MS));
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
    this.#queues.remove(this.#key, this.#queue, this, acquired);
  }
}
