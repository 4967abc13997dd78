import { afterEach, vi } from 'vitest';
import { type AnyBackend, createLocker, type Locker, type LockerOptions } from '../src/index.js';

/**
 * Registers an `afterEach` that restores real timers and closes every locker the returned
 * factory made; the factory's defaults are `base` (TTL, wait, no tracing) over each call's own.
 */
export function useLockers(base: LockerOptions): (backend: AnyBackend, options?: LockerOptions) => Locker {
  let lockers: Locker[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const created of lockers) await created.close().catch(() => {});
    lockers = [];
  });
  return (backend, options = {}) => {
    const created = createLocker(backend, { tracing: false, ...base, ...options });
    lockers.push(created);
    return created;
  };
}
