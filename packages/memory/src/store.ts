/**
 * The state a memory backend keeps. Several backends (several "clients") can share one store,
 * as processes share a Redis server: that is how the contract suite makes contention in-process.
 */
export interface MemoryStore {
  /** Current holdings. */
  readonly holdings: Map<string, Holding>;
  /** Last fence handed out per key; kept across releases so fences never go back. */
  readonly fences: Map<string, number>;
  /** Waiters to wake when a key is released. */
  readonly waiters: Map<string, Set<() => void>>;
  /** Monotonic clock, ms. */
  readonly now: () => number;
}

export interface Holding {
  readonly token: string;
  /** Monotonic ms; `Infinity` for an infinite lease. */
  expiresAt: number;
  /** The highest fence drawn for this holding (local hand-overs draw more for the same holding). */
  fence: number;
  readonly owner: string | undefined;
}

export interface MemoryStoreOptions {
  /** Clock used for expiry. Default `performance.now`. */
  readonly now?: () => number;
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return {
    holdings: new Map(),
    fences: new Map(),
    waiters: new Map(),
    now: options.now ?? (() => performance.now()),
  };
}

/** The live holding of `key`, dropping it if it has expired. Expiry is lazy: no timers. */
export function liveHolding(store: MemoryStore, key: string): Holding | undefined {
  const holding = store.holdings.get(key);
  if (holding && holding.expiresAt <= store.now()) {
    store.holdings.delete(key);
    return undefined;
  }
  return holding;
}

export function wakeWaiters(store: MemoryStore, key: string): void {
  const waiters = store.waiters.get(key);
  if (!waiters) return;
  store.waiters.delete(key);
  for (const wake of waiters) wake();
}
