import type { LockItem } from './item.js';

/**
 * What this client has seen of holdings that are not its own, on its own monotonic clock: the
 * clock-skew-safe takeover rule of AWS's DynamoDB lock client. A holding may be taken over only
 * once this client has seen the same record version number unchanged for a full lease duration
 * (`now - seenAt >= leaseMs`), and then only by a write conditioned on that version: if the
 * holder renewed meanwhile, the version changed and the takeover fails. No wall clock is
 * compared with another machine's.
 *
 * Our own successful writes are recorded too, with `seenAt` = when the write was *sent*: the
 * holding they create cannot outlive `sentAt + leaseMs` on this clock, so another acquire
 * through this backend may take over an abandoned holding of ours as soon as that has passed.
 */
export interface Observation {
  readonly rvn: string;
  readonly token: string;
  readonly leaseMs: number;
  /** Monotonic ms (`performance.now()`) when this version was first seen (or our write was sent). */
  readonly seenAt: number;
}

export class Observations {
  readonly #entries = new Map<string, Observation>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Observation | undefined {
    return this.#entries.get(key);
  }

  /**
   * The record version this client may take over now for `key`, if any: a holding by another
   * token, seen unchanged for at least its lease duration.
   */
  eligible(key: string, token: string, now: number): string | undefined {
    const seen = this.#entries.get(key);
    if (!seen || seen.token === token || seen.leaseMs === Infinity) return undefined;
    return now - seen.seenAt >= seen.leaseMs ? seen.rvn : undefined;
  }

  /** Records what a failed conditional write returned (`ALL_OLD`), received at `at`. */
  noteItem(key: string, item: LockItem | undefined, at: number): void {
    if (!item || item.token === undefined || item.rvn === undefined) {
      // Free now (or an item we cannot reason about): nothing to time.
      this.#entries.delete(key);
      return;
    }
    const previous = this.#entries.get(key);
    if (previous && previous.rvn === item.rvn) return; // unchanged: keep the first sighting
    this.#set(key, { rvn: item.rvn, token: item.token, leaseMs: item.leaseMs, seenAt: at });
  }

  /** Records our own successful write, sent at `sentAt`. */
  noteOwnWrite(key: string, observation: Observation): void {
    this.#set(key, observation);
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  #set(key: string, observation: Observation): void {
    this.#entries.delete(key); // re-insert: the Map's order is least recently written first
    this.#entries.set(key, observation);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
