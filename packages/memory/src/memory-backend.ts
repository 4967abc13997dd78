import {
  type AcquireOutcome,
  type AcquireRequest,
  type BackendCapabilities,
  ClosedError,
  type HandOverOutcome,
  type LeaseBackend,
  type LeaseInfo,
  type LeaseRef,
  type RenewItem,
  type RenewOutcome,
} from '@leasekit/core';
import { createMemoryStore, liveHolding, type MemoryStore, wakeWaiters } from './store.js';

export interface MemoryBackendOptions {
  /** Share a store between backends to simulate several clients of one server. Default: a new store. */
  readonly store?: MemoryStore;
}

export interface MemoryBackend extends LeaseBackend {
  readonly store: MemoryStore;
  /** Test hook: makes the current holding of `key` expire now, as if its TTL ran out. */
  forceExpire(key: string): Promise<void>;
}

const capabilities: BackendCapabilities = {
  fencing: true,
  minTtlMs: 1,
  maxTtlMs: 2 ** 31 - 1,
  infiniteTtl: true,
  // release() takes effect before it returns, so any later attempt sees the key free.
  orderedRelease: true,
};

/**
 * In-process backend: the embedded default for demos, tests and single-process apps, and the
 * reference implementation of the SPI. Expiry is computed on access, so it holds no timers.
 */
export function createMemoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  const store = options.store ?? createMemoryStore();
  let closed = false;
  const pendingHints = new Set<() => void>();

  const ensureOpen = (operation: string, key?: string) => {
    if (closed) throw new ClosedError('the backend is closed', { backend: 'memory', operation, key });
  };

  const renewOne = (lease: LeaseRef, ttlMs: number): RenewOutcome => {
    const holding = liveHolding(store, lease.key);
    if (!holding || holding.token !== lease.token)
      return { status: 'lost', detail: 'the key is not held with this token' };
    holding.expiresAt = store.now() + ttlMs;
    return { status: 'renewed' };
  };

  return {
    name: 'memory',
    capabilities,
    store,

    async tryAcquire(request: AcquireRequest): Promise<AcquireOutcome> {
      ensureOpen('acquire', request.key);
      const current = liveHolding(store, request.key);
      if (current) {
        // Same token: an earlier attempt of this very acquire landed; it is ours. Its TTL runs
        // again from now, as the caller counts validity from this attempt's own send time.
        if (current.token === request.token) {
          current.expiresAt = request.ttlMs === Infinity ? Infinity : store.now() + request.ttlMs;
          return { status: 'acquired', fence: current.fence };
        }
        return {
          status: 'held',
          retryAfterMs: current.expiresAt === Infinity ? undefined : current.expiresAt - store.now(),
        };
      }
      const fence = (store.fences.get(request.key) ?? 0) + 1;
      store.fences.set(request.key, fence);
      store.holdings.set(request.key, {
        token: request.token,
        expiresAt: store.now() + request.ttlMs,
        fence,
        owner: request.owner,
      });
      return { status: 'acquired', fence };
    },

    async renew(lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> {
      ensureOpen('renew', lease.key);
      return renewOne(lease, ttlMs);
    },

    async renewMany(items: readonly RenewItem[]): Promise<RenewOutcome[]> {
      ensureOpen('renew');
      return items.map((item) => renewOne(item.lease, item.ttlMs));
    },

    async handOver(lease: LeaseRef, ttlMs: number, fences: number): Promise<HandOverOutcome> {
      ensureOpen('renew', lease.key);
      const renewed = renewOne(lease, ttlMs);
      if (renewed.status !== 'renewed') return renewed;
      // The next holders' fences: a block drawn from the same counter as acquisitions.
      const fence = (store.fences.get(lease.key) ?? 0) + fences;
      store.fences.set(lease.key, fence);
      liveHolding(store, lease.key)!.fence = fence;
      // Anyone listening for this key's release is a waiter elsewhere (a locker does not listen
      // for a key it holds).
      return { status: 'renewed', fence, contended: (store.waiters.get(lease.key)?.size ?? 0) > 0 };
    },

    async release(lease: LeaseRef): Promise<boolean> {
      ensureOpen('release', lease.key);
      const holding = liveHolding(store, lease.key);
      if (!holding || holding.token !== lease.token) return false;
      store.holdings.delete(lease.key);
      wakeWaiters(store, lease.key);
      return true;
    },

    async inspect(key: string): Promise<LeaseInfo | null> {
      ensureOpen('inspect', key);
      const holding = liveHolding(store, key);
      const fence = store.fences.get(key);
      if (!holding) return fence === undefined ? null : { key, held: false, fence };
      return {
        key,
        held: true,
        token: holding.token,
        fence: holding.fence,
        ttlRemainingMs: holding.expiresAt === Infinity ? undefined : holding.expiresAt - store.now(),
        owner: holding.owner,
      };
    },

    released(key: string, signal: AbortSignal): Promise<void> {
      return new Promise<void>((resolve) => {
        if (closed || signal.aborted) return resolve();
        let waiters = store.waiters.get(key);
        if (!waiters) {
          waiters = new Set();
          store.waiters.set(key, waiters);
        }
        const wake = () => {
          signal.removeEventListener('abort', stop);
          pendingHints.delete(stop);
          resolve();
        };
        const stop = () => {
          store.waiters.get(key)?.delete(wake);
          if (store.waiters.get(key)?.size === 0) store.waiters.delete(key);
          wake();
        };
        waiters.add(wake);
        pendingHints.add(stop);
        signal.addEventListener('abort', stop, { once: true });
      });
    },

    async forceExpire(key: string): Promise<void> {
      const holding = store.holdings.get(key);
      if (holding) holding.expiresAt = store.now();
      wakeWaiters(store, key);
    },

    async close(): Promise<void> {
      closed = true;
      for (const stop of [...pendingHints]) stop();
    },
  };
}
