const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Timeouts of one length for many operations, behind one timer.
 *
 * A `setTimeout` per operation, cleared when the operation answers, costs more than it looks:
 * Node keeps one timer list per duration and drops it when it empties, so a caller doing one
 * operation at a time re-creates the list, and re-arms the event loop's timer, for every one
 * (what that cost: bench/README.md, "History").
 * Deadlines of one length expire in the order they were set, so one list in that order is
 * enough: `cancel` unlinks an entry (so nothing cancelled is kept alive), and the timer stays
 * set when the list empties; when it fires, it expires what is due and is set again for the
 * next entry, if there is one. It holds the process open only while a deadline is pending, as
 * a timer per operation would.
 */
export class Deadlines {
  /** The length of every deadline, in ms. */
  readonly ms: number;
  /** The pending deadlines, oldest first (a circular list through this sentinel). */
  readonly #list: Deadline = new Deadline(undefined, -Infinity, undefined);
  #pending = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    if (typeof ms !== 'number' || !(ms >= 0)) {
      throw new RangeError(
        `a deadline's length must be a number of ms >= 0 (Infinity: never); got ${String(ms)}`,
      );
    }
    this.ms = ms;
    this.#list.prev = this.#list;
    this.#list.next = this.#list;
  }

  /** Pending deadlines (started, neither cancelled nor expired). */
  get pending(): number {
    return this.#pending;
  }

  /** Calls `onExpire` once `ms` have passed, unless the returned deadline is cancelled first. */
  start(onExpire: () => void): Deadline {
    if (this.ms === Infinity) return NEVER;
    const deadline = new Deadline(this, performance.now() + this.ms, onExpire);
    const list = this.#list;
    deadline.prev = list.prev;
    deadline.next = list;
    list.prev!.next = deadline;
    list.prev = deadline;
    if (this.#pending++ === 0) this.#timer?.ref();
    if (!this.#timer) this.#timer = setTimeout(this.#fire, Math.min(MAX_TIMER_MS, this.ms));
    return deadline;
  }

  /** @internal Unlinks a deadline that was cancelled or expired. */
  remove(deadline: Deadline): void {
    deadline.prev!.next = deadline.next;
    deadline.next!.prev = deadline.prev;
    deadline.prev = undefined;
    deadline.next = undefined;
    if (--this.#pending === 0) this.#timer?.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const list = this.#list;
    const due: Deadline[] = [];
    // A timer can fire up to a millisecond before `performance.now()` reaches its end (the event
    // loop reads its clock once per turn): that close is due.
    let next = list.next!;
    for (; next !== list && next.at <= now + 1; next = next.next!) due.push(next);
    if (next !== list) {
      this.#timer = setTimeout(this.#fire, Math.min(MAX_TIMER_MS, Math.max(1, next.at - now)));
    }
    for (const deadline of due) {
      try {
        deadline.expire();
      } catch (error) {
        // As from a timer of its own: uncaught, without keeping the others from expiring.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
}

/** One pending deadline of a `Deadlines`. */
export class Deadline {
  readonly #owner: Deadlines | undefined;
  /** When it expires, on the `performance.now()` clock. */
  readonly at: number;
  #onExpire: (() => void) | undefined;
  /** @internal Neighbours in the owner's list while pending. */
  prev: Deadline | undefined;
  /** @internal */
  next: Deadline | undefined;

  /** @internal Made by `Deadlines.start`. */
  constructor(owner: Deadlines | undefined, at: number, onExpire: (() => void) | undefined) {
    this.#owner = owner;
    this.at = at;
    this.#onExpire = onExpire;
  }

  /** It will not expire (any more): cancelled, expired, or of an infinite length. */
  get done(): boolean {
    return this.#onExpire === undefined;
  }

  /** Stops it from expiring (no-op once done). */
  cancel(): void {
    if (this.#onExpire === undefined) return;
    this.#onExpire = undefined;
    this.#owner?.remove(this);
  }

  /** @internal */
  expire(): void {
    const onExpire = this.#onExpire;
    if (onExpire === undefined) return;
    this.#onExpire = undefined;
    this.#owner?.remove(this);
    onExpire();
  }
}

/** The deadline of an infinite length: it never expires. */
const NEVER = new Deadline(undefined, Infinity, undefined);
