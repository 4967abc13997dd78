import type { Cluster, Redis } from 'ioredis';
import type { LockNode } from './node.js';

const LINGER_MS = 2_000;

/**
 * A lazily created subscriber connection to one node. It subscribes only while the connection is
 * ready, and subscribes again to every channel it holds each time the connection becomes ready
 * (ioredis' own resubscription is off). A subscription sent earlier, while a new connection is
 * still in its handshake, reaches the server before ioredis' ready check, which the server then
 * refuses in subscriber mode: ioredis drops that connection, fails the subscription and never
 * makes it again, and a process whose subscriptions were lost that way never heard of a release
 * of those keys again (its waiters, left to their backoff, lost every turn to the processes that
 * did hear).
 */
class Subscriber {
  readonly #connection: Redis | Cluster;
  /** The channels this connection should be subscribed to. */
  readonly #channels = new Set<string>();

  /**
   * `onReady`: the connection is (again) ready, and subscribed: the releases published before
   * went unheard.
   */
  constructor(node: LockNode, onMessage: (channel: string, token: string) => void, onReady: () => void) {
    const client = node.client;
    // A subscription is not a lock command: it may wait for a connection, which is reconnected.
    this.#connection = node.isCluster
      ? (client as Cluster).duplicate([], { lazyConnect: false })
      : (client as Redis).duplicate({
          autoResubscribe: false,
          lazyConnect: false,
        });
    this.#connection.on('error', () => {});
    this.#connection.on('message', onMessage);
    this.#connection.on('ready', () => {
      if (this.#channels.size === 0) return;
      // The waiters are woken once the server has confirmed the subscription: woken earlier, a
      // retry (on another connection) could meet the key still held and a release published
      // before the subscription took effect would go unheard. A failure is made good at the
      // next `ready`.
      this.#connection
        .subscribe(...this.#channels)
        .then(onReady)
        .catch(() => {});
    });
  }

  subscribe(channel: string): void {
    this.#channels.add(channel);
    this.#send('subscribe', [channel]);
  }

  unsubscribe(channel: string): void {
    this.#channels.delete(channel);
    this.#send('unsubscribe', [channel]);
  }

  close(): void {
    this.#connection.disconnect();
  }

  /** Not before the connection is ready: its `ready` event subscribes to every channel then. */
  #send(command: 'subscribe' | 'unsubscribe', channels: string[]): void {
    if (this.#connection.status !== 'ready') return;
    // A failure (the connection dropped meanwhile) is made good at the next `ready`.
    this.#connection[command](...channels).catch(() => {});
  }
}

interface Channel {
  readonly waiters: Set<() => void>;
  /** The release last seen, by its token: every node publishes each release once. */
  lastToken: string | undefined;
  linger: NodeJS.Timeout | undefined;
}

/**
 * The `released` hint. A release publishes the released token on the key's channel (inside the
 * release script, on every node where it deleted); waiters subscribe to the channel on every
 * node, through one subscriber connection per node. A release wakes every `released()` call
 * waiting on the key once (the locker calls it once per key and wakes its own longest waiter):
 * the copies the other nodes publish of the same release are recognised by the token and
 * dropped, so they do not wake the next waiter for nothing. A lost hint costs a backoff step,
 * never correctness.
 */
export class ReleaseNotifier {
  readonly #nodes: readonly LockNode[];
  #subscribers: Subscriber[] | undefined;
  readonly #channels = new Map<string, Channel>();
  #closed = false;

  constructor(nodes: readonly LockNode[]) {
    this.#nodes = nodes;
  }

  /** Resolves on the next release published on `channel`, or when `signal` aborts or the notifier closes. */
  wait(channel: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#closed || signal.aborted) return resolve();
      const state = this.#channel(channel);
      const wake = () => {
        signal.removeEventListener('abort', wake);
        state.waiters.delete(wake);
        if (state.waiters.size === 0) this.#linger(channel, state);
        resolve();
      };
      state.waiters.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  /**
   * This notifier is subscribed to `channel` with nobody waiting (lingering after its last
   * waiter): its subscription counts on the server, but not as a waiter.
   */
  lingering(channel: string): boolean {
    return this.#channels.get(channel)?.waiters.size === 0;
  }

  close(): void {
    this.#closed = true;
    for (const state of this.#channels.values()) {
      clearTimeout(state.linger);
      for (const wake of [...state.waiters]) wake();
    }
    this.#channels.clear();
    for (const subscriber of this.#subscribers ?? []) subscriber.close();
    this.#subscribers = undefined;
  }

  #channel(channel: string): Channel {
    let state = this.#channels.get(channel);
    if (state) {
      clearTimeout(state.linger);
      state.linger = undefined;
      return state;
    }
    state = { waiters: new Set(), lastToken: undefined, linger: undefined };
    this.#channels.set(channel, state);
    this.#subscribers ??= this.#nodes.map(
      (node) =>
        new Subscriber(
          node,
          (ch, token) => this.#onMessage(ch, token),
          () => this.#wakeAll(),
        ),
    );
    for (const subscriber of this.#subscribers) subscriber.subscribe(channel);
    return state;
  }

  #onMessage(channel: string, token: string): void {
    const state = this.#channels.get(channel);
    if (!state || state.lastToken === token) return;
    state.lastToken = token;
    for (const wake of [...state.waiters]) wake();
  }

  /** Wakes every waiter: a subscriber was not listening until now (a new connection, or a reconnect). */
  #wakeAll(): void {
    for (const state of this.#channels.values()) {
      for (const wake of [...state.waiters]) wake();
    }
  }

  /** Stays subscribed a little after the last waiter left: a hot key's waiters come straight back. */
  #linger(channel: string, state: Channel): void {
    if (this.#closed) return;
    state.linger = setTimeout(() => {
      this.#channels.delete(channel);
      for (const subscriber of this.#subscribers ?? []) subscriber.unsubscribe(channel);
    }, LINGER_MS);
    state.linger.unref();
  }
}
