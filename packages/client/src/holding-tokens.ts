import { InvalidArgumentError } from '@leasekit/core';

/**
 * The lease tokens the service handed out for holdings acquired through `createHttpBackend`, by
 * key and the locker's own token. The locker names a holding by the token of its
 * `AcquireRequest`; the service names it by the token it returned. Each backend keeps its own
 * (the locker passes its refs back to the backend that acquired them); backends given one
 * `HoldingTokens` (option `holdings`) can renew and release each other's holdings by key and
 * locker token (`locker.renewHolding` / `releaseHolding` through another locker of the process).
 *
 * Bounded and forgiving: an entry is dropped on release or loss, entries past their server
 * deadline are swept as new ones come, and past `limit` the least recently used goes. A missing
 * entry is never wrong, only pessimistic: without the service's token the holding can be neither
 * renewed nor released from here, so the backend answers `lost` / `false` without a request —
 * never "held" by mistake.
 */
export class HoldingTokens {
  readonly #limit: number;
  /** `key \0 locker token` → service token and when to forget it (monotonic ms). Insertion order = recency. */
  readonly #entries = new Map<string, { token: string; forgetAt: number }>();

  /** `limit`: most holdings remembered (default 100 000). */
  constructor(options: { readonly limit?: number | undefined } = {}) {
    const limit = options.limit ?? 100_000;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError(
        `HoldingTokens: limit must be a whole number >= 1; got ${String(limit)}`,
        {
          operation: 'configure',
        },
      );
    }
    this.#limit = limit;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The service's token for this holding, or `undefined` when unknown here. */
  get(key: string, lockerToken: string): string | undefined {
    return this.#entries.get(slot(key, lockerToken))?.token;
  }

  /** Records (or refreshes) a holding that the service says lasts `ttlMs` more. */
  set(key: string, lockerToken: string, serviceToken: string, ttlMs: number): void {
    const id = slot(key, lockerToken);
    const now = performance.now();
    this.#entries.delete(id);
    // Kept a while past the TTL: a late release must still name the holding (the service then says 410 itself).
    this.#entries.set(id, { token: serviceToken, forgetAt: now + ttlMs * 2 + 60_000 });
    this.#sweep(now);
  }

  /** Moves a renewed holding's deadline on. */
  touch(key: string, lockerToken: string, ttlMs: number): void {
    const entry = this.#entries.get(slot(key, lockerToken));
    if (entry) this.set(key, lockerToken, entry.token, ttlMs);
  }

  delete(key: string, lockerToken: string): void {
    this.#entries.delete(slot(key, lockerToken));
  }

  #sweep(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#limit && entry.forgetAt > now) break;
      this.#entries.delete(id);
    }
  }
}

const slot = (key: string, token: string) => `${key}\u0000${token}`;
