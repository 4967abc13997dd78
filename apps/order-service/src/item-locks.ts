/**
 * The lock an order takes on its item, behind a small interface: the lock service through
 * `@leasekit/client` in production, or any leasekit locker in process (tests, single instance).
 */
import type { Locker } from '@leasekit/core';

export interface ItemLock {
  /** Decimal string, strictly increasing across holders of the key; null without fencing. */
  readonly fence: string | null;
  /** Frees the key; false when the lock had already been lost (expired or taken). */
  release(): Promise<boolean>;
}

export interface ItemLocks {
  /**
   * Takes `key`, waiting up to `waitMs` for it. Rejects with an error whose `code` is
   * `ACQUIRE_TIMEOUT` when it is still held after that, any other error when the lock could
   * not be asked for.
   */
  acquire(key: string, options: { ttlMs: number; waitMs: number; owner: string }): Promise<ItemLock>;
  close(): Promise<void>;
}

/** Item locks from a leasekit locker over any backend (in process: no lock service needed). */
export function lockerItemLocks(locker: Locker): ItemLocks {
  return {
    async acquire(key, { ttlMs, waitMs, owner }) {
      const lease = await locker.acquire(key, { ttl: ttlMs, wait: waitMs, mode: 'timeout', owner });
      return {
        fence: lease.fence === undefined ? null : String(lease.fence),
        release: () => lease.release(),
      };
    },
    close: () => locker.close(),
  };
}
