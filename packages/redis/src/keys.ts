/** The Redis names leasekit uses for one lock key. */
export interface RedisKeyNames {
  /** String key holding the holder's token, with the TTL (`SET NX PX`). */
  readonly lock: string;
  /** Integer fence counter; never expires, so fences survive releases. */
  readonly fence: string;
  /** Pub/sub channel a release publishes on, to wake waiters. */
  readonly channel: string;
}

export const DEFAULT_PREFIX = 'leasekit:';

/**
 * `prefix{key}`, `prefix{key}:fence` and `prefix{key}:released`. The braces are a Redis Cluster
 * hash tag: both keys of a lock share a slot, so one script can touch both.
 */
export function redisKeyNames(key: string, prefix: string = DEFAULT_PREFIX): RedisKeyNames {
  const base = lockKey(key, prefix);
  return { lock: base, fence: `${base}:fence`, channel: `${base}:released` };
}

/** `prefix{key}`: the lock key alone (`redisKeyNames(key, prefix).lock`). */
export function lockKey(key: string, prefix: string): string {
  return `${prefix}{${key}}`;
}
