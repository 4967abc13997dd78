/**
 * The in-process floor: the least code that does what the memory backend does for a lock,
 * check-and-set of a random token on a plain Map and compare-and-delete on release, behind the
 * same async shape a backend has, with a per-key queue of waiters woken one at a time on
 * release. No locker, no TTL, no fencing, no validation, no timers.
 */
import { randomUUID } from 'node:crypto';
import { lockContender } from './registry.js';
import type { Contender, Role } from './types.js';

export class FloorLock {
  readonly #holders = new Map<string, string>();
  readonly #waiters = new Map<string, (() => void)[]>();

  /** Takes `key`, waiting for a release as long as it must; resolves to the token. */
  async acquire(key: string): Promise<string> {
    const token = randomUUID();
    let queued = await this.#takeOrQueue(key, token);
    while (queued) {
      await queued.released;
      queued = await this.#takeOrQueue(key, token);
    }
    return token;
  }

  /**
   * One check-and-set, async like a backend call: `undefined` when taken, else the promise of the
   * next release (wrapped: an async function would adopt it). Checking and queueing happen in
   * one step, so a release cannot slip between them.
   */
  async #takeOrQueue(key: string, token: string): Promise<{ released: Promise<void> } | undefined> {
    if (!this.#holders.has(key)) {
      this.#holders.set(key, token);
      return undefined;
    }
    let queue = this.#waiters.get(key);
    if (!queue) {
      queue = [];
      this.#waiters.set(key, queue);
    }
    const waiting = queue;
    return { released: new Promise<void>((resolve) => waiting.push(resolve)) };
  }

  /** Compare-and-delete; wakes the next waiter. `false` when `token` did not hold `key`. */
  async release(key: string, token: string): Promise<boolean> {
    if (this.#holders.get(key) !== token) return false;
    this.#holders.delete(key);
    const queue = this.#waiters.get(key);
    if (queue) {
      const next = queue.shift();
      if (queue.length === 0) this.#waiters.delete(key);
      next?.();
    }
    return true;
  }
}

/** A contender running the workload on a `FloorLock` in this process (any scenario's environment). */
export function floorLockContender<Env>(spec: {
  name: string;
  role: Role;
  note: string;
}): Contender<Env, FloorLock> {
  return lockContender<Env, FloorLock>({
    ...spec,
    setup: () => new FloorLock(),
    async acquire(lock, key) {
      const token = await lock.acquire(key);
      return () => lock.release(key, token);
    },
  });
}
