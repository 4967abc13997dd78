import { randomBytes, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { waitersKey } from './keys.js';
import type { LockNode } from './node.js';
import { PASS_ON_SCRIPT } from './scripts.js';

/**
 * How long a wake-up that finds nobody waiting is kept for a waiter on its way: one whose attempt
 * is in flight, or just found the key held and has not gone to sleep yet (the attempt's answer
 * and the wake-up travel on different connections: a release right behind the attempt on the
 * node can be heard first). Past that, it is passed on.
 */
const KEEP_MS = 100;

/**
 * How long waiters wait for more nodes' copies of a wake-up, after the first, before they attempt
 * with what they have (the other nodes may have woken another waiter).
 */
const COPIES_MS = 5;

/**
 * A lock key name as it comes back in a wake-up: sent as UTF-8, a lone surrogate comes back as
 * U+FFFD. Names are looked up in this form.
 */
function asSent(lock: string): string {
  return /[\uD800-\uDFFF]/.test(lock) ? Buffer.from(lock).toString() : lock;
}

/** Idle keys (nobody waiting, nothing kept) are forgotten this long after they fell idle. */
const FORGET_MS = 1_000;

/**
 * The subscriber connection to one node, on this backend's wake channel. It subscribes each time
 * the connection becomes ready (ioredis' own resubscription is off): a subscription sent while a
 * new connection is still in its handshake reaches the server before ioredis' ready check, which
 * the server then refuses in subscriber mode, and ioredis drops that connection and never
 * subscribes again (a process that lost its subscriptions that way never heard a release again).
 */
class Subscriber {
  readonly #connection: Redis | Cluster;
  #listening = false;

  /** `onReady`: (re)subscribed; wake-ups sent before went unheard. */
  constructor(channel: string, node: LockNode, onMessage: (message: Buffer) => void, onReady: () => void) {
    const client = node.client;
    // A subscription is not a lock command: it may wait for a connection, which is reconnected.
    this.#connection = node.isCluster
      ? (client as Cluster).duplicate([], { lazyConnect: false })
      : (client as Redis).duplicate({ autoResubscribe: false, lazyConnect: false });
    this.#connection.on('error', () => {});
    this.#connection.on('messageBuffer', (_channel: Buffer, message: Buffer) => onMessage(message));
    this.#connection.on('close', () => {
      this.#listening = false;
    });
    this.#connection.on('ready', () => {
      // Waiters are registered only once the server confirmed the subscription: registered
      // earlier, a release would wake (and take off the waiters set) a waiter that cannot hear it.
      // A failure is made good at the next `ready`.
      this.#connection
        .subscribe(channel)
        .then(() => {
          this.#listening = true;
          onReady();
        })
        .catch(() => {});
    });
  }

  get listening(): boolean {
    return this.#listening;
  }

  close(): void {
    this.#listening = false;
    this.#connection.disconnect();
  }
}

/** A wake-up (one release's) and the nodes whose copy of it came. */
interface WakeUp {
  readonly message: string;
  readonly id: string;
  readonly nodes: LockNode[];
}

interface KeyState {
  readonly lock: string;
  readonly waiters: Set<() => void>;
  /**
   * The wake-up last delivered to waiters here: more copies of it, until the attempt it started
   * is sent, are not new wake-ups (that attempt finds their nodes released).
   */
  last: WakeUp | undefined;
  /** `last`, while the attempt it started is in flight: restored if that attempt takes the key. */
  attemptOf: WakeUp | undefined;
  /**
   * A wake-up not delivered yet: waiting for the copies of a quorum of nodes (so that the attempt
   * it starts finds the key released on a quorum), or kept for a waiter on its
   * way (see `KEEP_MS`), until `timer`.
   */
  pending: (WakeUp & { timer: NodeJS.Timeout }) | undefined;
  /** Until when (monotonic ms) a wake-up that finds nobody waiting is kept (see `expect`). */
  keepUntil: number;
  /** When it fell idle (monotonic ms); 0 while in use. */
  idleSince: number;
  /** A wake-up was delivered here since the last attempt: that attempt, if it fails, goes first. */
  woken: boolean;
  /** An attempt registered this backend as a waiter, and none took the key since. */
  registered: boolean;
  /**
   * How many subscriptions had become ready when the last attempt that found the key held was
   * sent (see `expect`); `undefined` once a wait read it.
   */
  readyAt: number | undefined;
}

/**
 * The `released` hint, waking one waiter per release rather than all of them. Each backend
 * listens on one channel of its own on every node (`channel`). A waiter whose attempt finds a key
 * held registers that channel in the key's waiters set on each node where it listens (the
 * acquire script does it, at the end of the set, once); a release takes the first registered
 * channel that somebody still listens on off the set and publishes the lock key's name and the
 * wake-up's id there. So a release wakes one backend, the one that waited longest (all of its
 * `released()` calls for the key: the locker makes one per key), instead of one waiter in every
 * process, of which all but one would spend an attempt on every node for nothing. Each node
 * sends its own copy: the waiters are woken once a quorum's copies came (or `COPIES_MS` after the
 * first), so that their attempt finds the key free on a quorum, not only on the node that was
 * first (an attempt that early fails, and a failed attempt must wait for the next release). A
 * wake-up for a key nobody here waits for any more is passed on to the next waiter by `PASS_ON`
 * (after `KEEP_MS` when an attempt may be on its way), and a backend whose last waiter for a key
 * gives up leaves its waiters set. A lost wake-up costs a backoff step, never correctness.
 */
export class ReleaseNotifier {
  /** This backend's wake channel. */
  readonly channel: string;
  readonly #nodes: readonly LockNode[];
  readonly #quorum: number;
  #subscribers: Subscriber[] | undefined;
  readonly #keys = new Map<string, KeyState>();
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;
  /** Attempts in flight that may have registered this backend as a waiter (see `attempting`). */
  #attempts = 0;
  /** Subscriptions that became ready (or ready again after a reconnect) so far. */
  #ready = 0;
  /** Wake-up ids: this backend's prefix and a count (unique enough: compared per key, per waiter). */
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #ids = 0;

  constructor(nodes: readonly LockNode[], quorum: number, prefix: string) {
    this.#nodes = nodes;
    this.#quorum = quorum;
    this.channel = `${prefix}wake:${randomUUID()}`;
  }

  /** Opens the subscriber connections, if not yet: a caller waits (an uncontended backend never opens them). */
  #listen(): void {
    if (this.#subscribers || this.#closed) return;
    this.#subscribers = this.#nodes.map(
      (node) =>
        new Subscriber(
          this.channel,
          node,
          (message) => this.#onMessage(node, message),
          () => {
            this.#ready++;
            this.#wakeAll();
          },
        ),
    );
  }

  /**
   * The id of a new wake-up (a release): the same on every node, so that a waiter takes it once.
   * Not the token: an acquire that gives back a partial holding wakes a waiter too, and its retry,
   * with the same token, may release the key for real later.
   */
  wakeId(): string {
    return this.#idPrefix + (this.#ids++).toString(36);
  }

  /** A caller has waited: the subscriber connections are open (if not all listening yet). */
  get listening(): boolean {
    return this.#subscribers !== undefined;
  }

  /** A count of subscriptions become ready, read when an attempt is sent (see `expect`). */
  get ready(): number {
    return this.#ready;
  }

  /** The channel to register as a waiter on node `index`: `''` while nobody listens there. */
  waiterOn(index: number): string {
    return this.#subscribers?.[index]?.listening ? this.channel : '';
  }

  /**
   * An attempt that may register this backend as a waiter is sent: until it is answered, a
   * wake-up for a key nobody here waits for is kept (for `KEEP_MS`), not passed on at once: it
   * may be this attempt's. (One count for all keys: a per-key entry per acquire would cost the
   * uncontended acquire a map insertion; a wake-up kept for nobody is only passed on later.)
   */
  attempting(): void {
    this.#attempts++;
  }

  /**
   * The attempt `attempting` announced was answered. `acquired`: it took `lock`, so a wake-up
   * kept for it is spent (the key is ours: passing it on would find it held).
   */
  attempted(lock: string, acquired: boolean): void {
    this.#attempts--;
    if (!acquired) return;
    const state = this.#keys.get(asSent(lock));
    if (state === undefined) return;
    // Late copies of the wake-up that led here are spent: the key is ours.
    state.last ??= state.attemptOf;
    // Other callers here still wait: the acquire kept the backend's place (see `othersWaiting`).
    if (state.waiters.size > 0) return;
    state.registered = false;
    if (state.pending) this.#drop(state);
  }

  /**
   * Callers of this backend other than the one attempting wait for `lock` (several lockers on one
   * backend): its acquire keeps the backend's place in the waiters set, for them.
   */
  othersWaiting(lock: string): boolean {
    return (this.#keys.get(asSent(lock))?.waiters.size ?? 0) > 0;
  }

  /**
   * The backend's own place in `lock`'s waiters set, not to count as somebody else waiting (a
   * hand-over asks): its channel, unless callers of this backend wait for the key (then they are
   * somebody else, for the holder).
   */
  ownPlace(lock: string): string {
    return this.othersWaiting(lock) ? '' : this.channel;
  }

  /**
   * An attempt found `lock` held; `registered`: it registered this backend as a waiter, and a
   * wake-up that comes before its waiter sleeps is kept for it. `ready`: the `ready` count when it
   * was sent. A subscription ready since then is one that attempt could not register on, and whose
   * readiness woke nobody (its caller was not waiting yet): the caller's wait ends at once, so that
   * it attempts again and registers there.
   */
  expect(lock: string, registered: boolean, ready: number): void {
    if (this.#closed) return;
    const state = this.#state(asSent(lock));
    state.readyAt = ready;
    if (registered) {
      state.keepUntil = performance.now() + KEEP_MS;
      state.registered = true;
    }
    // Forgotten in time if no wait follows (the sweep spares it while it is kept).
    this.#idle(state);
  }

  /**
   * Whether a wake-up for `lock` was delivered since the last call: an attempt that follows it
   * and finds the key held again joins the front of the waiters set, not its end (the wake-up
   * took it off).
   */
  takeWoken(lock: string): boolean {
    const state = this.#keys.get(asSent(lock));
    if (state === undefined) return false;
    // Copies of the last wake-up that come from now on may have been sent after this attempt
    // found their node still held (it released later): they are new wake-ups, unless this
    // attempt takes the key (see `attempted`).
    state.attemptOf = state.last;
    state.last = undefined;
    const woken = state.woken;
    state.woken = false;
    return woken;
  }

  /** Resolves on the next wake-up for `lock`, or when `signal` aborts or the notifier closes. */
  wait(lock: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#closed || signal.aborted) return resolve();
      this.#listen();
      const state = this.#state(asSent(lock));
      const missedReady = state.readyAt !== undefined && state.readyAt !== this.#ready;
      state.readyAt = undefined;
      if (missedReady) {
        // (With a wake-up kept for it: delivered, so that the attempt keeps its place if it fails.)
        if (state.pending) this.#deliver(state);
        else this.#idle(state);
        return resolve();
      }
      state.keepUntil = 0;
      const wake = () => {
        signal.removeEventListener('abort', leave);
        state.waiters.delete(wake);
        this.#idle(state);
        resolve();
      };
      // The last waiter here gave up (one that took the key ended the registration already): the
      // backend leaves the waiters set, so that a release right after wakes a waiter that is
      // still there, and wakes the next if the key is free (a wake-up may have come for it).
      const leave = () => {
        wake();
        if (state.waiters.size > 0 || !state.registered || this.#closed) return;
        state.registered = false;
        const id = this.wakeId();
        for (const node of this.#nodes) this.#passOn(node, state.lock, id);
      };
      state.waiters.add(wake);
      signal.addEventListener('abort', leave, { once: true });
      // A wake-up kept for this waiter: it came late, so it goes at once with the copies it has.
      if (state.pending) this.#deliver(state);
    });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const state of this.#keys.values()) {
      clearTimeout(state.pending?.timer);
      for (const wake of [...state.waiters]) wake();
    }
    this.#keys.clear();
    for (const subscriber of this.#subscribers ?? []) subscriber.close();
    this.#subscribers = undefined;
  }

  #state(lock: string): KeyState {
    let state = this.#keys.get(lock);
    if (!state) {
      state = {
        lock,
        waiters: new Set(),
        last: undefined,
        attemptOf: undefined,
        pending: undefined,
        keepUntil: 0,
        idleSince: 0,
        woken: false,
        registered: false,
        readyAt: undefined,
      };
      this.#keys.set(lock, state);
      this.#sweeper ??= setInterval(() => this.#sweep(), FORGET_MS).unref();
    }
    state.idleSince = 0;
    return state;
  }

  #idle(state: KeyState): void {
    if (state.waiters.size === 0 && !state.pending) state.idleSince = performance.now();
  }

  /** Forgets keys idle for `FORGET_MS` (kept that long so that late copies of a wake-up are recognised). */
  #sweep(): void {
    const before = performance.now() - FORGET_MS;
    for (const [lock, state] of this.#keys) {
      if (state.idleSince !== 0 && state.idleSince < before && state.keepUntil < before)
        this.#keys.delete(lock);
    }
    if (this.#keys.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #onMessage(node: LockNode, payload: Buffer): void {
    if (this.#closed) return;
    // `<bytes of the name>:<lock key name><id>` (see the release script).
    const colon = payload.indexOf(58);
    const length = Number(payload.toString('latin1', 0, colon));
    if (colon < 1 || !Number.isInteger(length) || colon + 1 + length > payload.length) return;
    const lock = payload.toString('utf8', colon + 1, colon + 1 + length);
    const id = payload.toString('utf8', colon + 1 + length);
    const message = payload.toString('latin1');
    const state = this.#keys.get(lock);
    const last = state?.last;
    // Another node's copy of the wake-up delivered last (the same node again is a new one: a
    // waiter that passed it on there).
    if (last?.message === message && !last.nodes.includes(node)) {
      last.nodes.push(node);
      return;
    }
    const pending = state?.pending;
    if (pending?.message === message && !pending.nodes.includes(node)) {
      pending.nodes.push(node);
      if (state!.waiters.size > 0 && pending.nodes.length >= this.#quorum) this.#deliver(state!);
      return;
    }
    if (pending) {
      // A newer wake-up: the one pending goes now, to the waiters or on.
      if (state!.waiters.size > 0) this.#deliver(state!);
      else this.#passPending(state!);
    }
    const waiting = state !== undefined && state.waiters.size > 0;
    const keep = this.#attempts > 0 || (state !== undefined && performance.now() < state.keepUntil);
    if (!waiting && !keep) {
      this.#passOn(node, lock, id);
      return;
    }
    const target = state ?? this.#state(lock);
    const wakeUp = { message, id, nodes: [node] };
    if (waiting && this.#quorum <= 1) {
      this.#deliver(target, wakeUp);
      return;
    }
    const timer = setTimeout(
      () => {
        if (target.pending?.timer !== timer) return;
        if (target.waiters.size > 0) this.#deliver(target);
        else this.#passPending(target);
      },
      waiting ? COPIES_MS : KEEP_MS,
    );
    timer.unref();
    target.idleSince = 0;
    target.pending = { ...wakeUp, timer };
  }

  /** Wakes the key's waiters with `wakeUp` (by default its pending one). */
  #deliver(state: KeyState, wakeUp: WakeUp = state.pending!): void {
    clearTimeout(state.pending?.timer);
    state.pending = undefined;
    state.last = { message: wakeUp.message, id: wakeUp.id, nodes: wakeUp.nodes };
    state.woken = true;
    // The waiters' attempts are on their way: a newer wake-up meanwhile is kept for them.
    state.keepUntil = performance.now() + KEEP_MS;
    for (const wake of [...state.waiters]) wake();
    this.#idle(state);
  }

  /** The pending wake-up is nobody's here: each node that sent it wakes its next waiter. */
  #passPending(state: KeyState): void {
    const pending = state.pending!;
    this.#drop(state);
    for (const node of pending.nodes) this.#passOn(node, state.lock, pending.id);
  }

  #drop(state: KeyState): void {
    clearTimeout(state.pending!.timer);
    state.pending = undefined;
    this.#idle(state);
  }

  /**
   * Nobody here waits for `lock` any more: off the node's waiters set, and the node wakes its next
   * waiter unless the key is held again.
   */
  #passOn(node: LockNode, lock: string, id: string): void {
    if (this.#closed) return;
    try {
      node
        .run(() =>
          node.evalScript(
            PASS_ON_SCRIPT,
            lock,
            waitersKey(lock),
            lock,
            id,
            this.channel,
            node.isCluster ? 1 : 0,
          ),
        )
        .catch(() => {});
    } catch {
      // A node that refuses commands now (down, stalled): its waiters are left to their backoff.
    }
  }

  /** Wakes every waiter: a subscriber was not listening until now (a new connection, or a reconnect). */
  #wakeAll(): void {
    for (const state of this.#keys.values()) {
      for (const wake of [...state.waiters]) wake();
    }
  }
}
