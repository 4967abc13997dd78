/** The Redis names leasekit uses for one lock key. */
export interface RedisKeyNames {
  /** String key holding the holder's token, with the TTL (`SET NX PX`). */
  readonly lock: string;
  /** Integer fence counter; never expires, so fences survive releases. */
  readonly fence: string;
  /**
   * Sorted set of the wake channels of the backends waiting for the key, first come first (see
   * the release hint in the README): a release wakes the first that still listens.
   */
  readonly waiters: string;
  /**
   * The holder's `owner` description, when it gave one: set, extended and deleted with the lock
   * key by the same scripts, so it lives exactly as long as the holding.
   */
  readonly owner: string;
}

export const DEFAULT_PREFIX = 'leasekit:';

/**
 * `prefix{key}`, `prefix{key}:fence`, `prefix{key}:owner` and `prefix{key}:waiters`. The braces
 * are a Redis Cluster hash tag: the keys of a lock share a slot, so one script can touch them all.
 */
export function redisKeyNames(key: string, prefix: string = DEFAULT_PREFIX): RedisKeyNames {
  const base = lockKey(key, prefix);
  return {
    lock: base,
    fence: `${base}:fence`,
    owner: ownerKey(base),
    waiters: waitersKey(base),
  };
}

/** The waiters set of the lock key `lock` (`redisKeyNames(key, prefix).waiters`). */
export function waitersKey(lock: string): string {
  return `${lock}:waiters`;
}

/** The owner key of the lock key `lock` (`redisKeyNames(key, prefix).owner`). */
export function ownerKey(lock: string): string {
  return `${lock}:owner`;
}

/** `prefix{key}`: the lock key alone (`redisKeyNames(key, prefix).lock`). */
export function lockKey(key: string, prefix: string): string {
  return `${prefix}{${key}}`;
}
