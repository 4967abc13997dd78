import {
  type AnyBackend,
  canRenew,
  checkTtl,
  isLeaseError,
  type Lease,
  type LeaseMode,
  type Locker,
} from '@leasekit/core';
import type { ServiceMetrics } from './metrics.js';
import { ProblemError } from './problem.js';
import {
  type DecodedToken,
  decodeHolder,
  encodeHolder,
  encodeLeaseToken,
  type HolderRecord,
  idempotentStoreToken,
  storeKey,
} from './tokens.js';

/**
 * The lock operations both route sets (v1 and the seed's) share, over one `Locker` per
 * process. Stateless: every answer comes from the store or from the token the client sends
 * back, so any instance serves any lease.
 */

export interface AcquireInput {
  readonly tenant: string;
  readonly key: string;
  readonly ttlMs: number;
  readonly waitMs: number;
  readonly mode: LeaseMode;
  readonly owner: string | null;
  readonly metadata: Readonly<Record<string, string>> | null;
  readonly idempotencyKey: string | undefined;
  /**
   * Aborts when the client goes away (see `clientGone`): its wait ends, and a grant made for it
   * anyway (it raced the abort, or the answer could not be written) is given back at once, unless
   * the acquire carried an `Idempotency-Key` (the client's retry may hold that very holding).
   */
  readonly gone: AbortSignal;
  /** Aborts when the server starts shutting down: a wait ends with a 503. */
  readonly shutdown: AbortSignal;
  /** Milliseconds since the request was received (for `waitedMs`). */
  readonly elapsedMs: () => number;
}

export interface Granted {
  readonly kind: 'granted';
  readonly token: string;
  readonly fence: number | undefined;
  readonly ttlMs: number;
  readonly expiresAt: number;
  readonly waitedMs: number;
}

/** The client went away before its answer: a grant made for it was given back (or kept, see `giveBack`). */
export interface Abandoned {
  readonly kind: 'gone';
}

export interface HolderView {
  readonly owner: string | null;
  readonly expiresAt: number | null;
}

export interface Refused {
  readonly kind: 'held';
  readonly holder: HolderView | null;
  /** Seconds until the holding may expire (at least 1). */
  readonly retryAfterS: number;
}

export interface Inspected extends HolderRecord {
  readonly fence: number | undefined;
  readonly expiresAt: number | null;
  readonly ttlRemainingMs: number | null;
  /** The holder's store token, when the backend tells. */
  readonly storeToken: string | undefined;
}

/**
 * What names a holding on renew and release: the lease token the acquire answered (decoded by
 * the route, once: a malformed one is a 400 on v1 and a 404 on the seed's routes), or the
 * `Idempotency-Key` the acquire sent (with the holding's fence, when the client knows it).
 */
export type HoldingCredential =
  | { readonly leaseToken: DecodedToken }
  | { readonly idempotencyKey: string; readonly fence: number | undefined };

export interface Renewed {
  readonly fence: number | undefined;
  readonly ttlMs: number;
  readonly expiresAt: number;
}

/** The wait and no-wait acquires, as answered to clients. */
export class LockService {
  readonly locker: Locker;
  readonly backend: AnyBackend;
  readonly #secret: string;
  readonly #metrics: ServiceMetrics;

  constructor(locker: Locker, backend: AnyBackend, secret: string, metrics: ServiceMetrics) {
    this.locker = locker;
    this.backend = backend;
    this.#secret = secret;
    this.#metrics = metrics;
  }

  /** The backend renews holdings (`/v1/capabilities` `renewal`); without it, renew is refused. */
  get renewal(): boolean {
    return canRenew(this.backend);
  }

  /** Checks a TTL against the backend's range before any I/O (400 naming the range). */
  checkTtl(ttlMs: number, operation: string): number {
    return checkTtl(this.backend, ttlMs, operation);
  }

  async acquire(input: AcquireInput): Promise<Granted | Refused | Abandoned> {
    const key = storeKey(input.tenant, input.key);
    this.checkTtl(input.ttlMs, 'acquire');
    const owner = encodeHolder({ owner: input.owner, mode: input.mode, metadata: input.metadata });
    const token =
      input.idempotencyKey === undefined
        ? undefined
        : idempotentStoreToken(this.#secret, input.tenant, input.key, input.idempotencyKey);
    // Timeout mode always: the service never renews by itself (clients renew over HTTP).
    const base = {
      ttl: input.ttlMs,
      ...(owner === undefined ? {} : { owner }),
      mode: 'timeout' as const,
      ...(token === undefined ? {} : { token }),
    };
    let lease: Lease | null = null;
    try {
      if (input.waitMs === 0) {
        // One attempt: shutting down has no wait to cut short, so only the client's leaving aborts it.
        lease = await this.locker.tryAcquire(key, { ...base, signal: input.gone });
      } else {
        // The store answers a same-token retry with the same holding whether or not it waits.
        this.#metrics.waiting(1);
        const either = eitherSignal(input.gone, input.shutdown);
        try {
          lease = await this.locker.acquire(key, { ...base, wait: input.waitMs, signal: either.signal });
        } finally {
          either.dispose();
          this.#metrics.waiting(-1);
        }
      }
    } catch (error) {
      if (!isLeaseError(error, 'ACQUIRE_TIMEOUT')) {
        if (input.gone.aborted) {
          // Nobody to answer. Without an Idempotency-Key the locker gives back whatever the
          // aborted attempt still takes; with one it leaves it (the client's retry may hold it).
          this.#metrics.acquire('cancelled', input.waitMs > 0 ? input.elapsedMs() / 1_000 : undefined);
          return { kind: 'gone' };
        }
        if (input.shutdown.aborted) {
          throw new ProblemError(
            503,
            'SHUTTING_DOWN',
            'the wait was cut short: the service is shutting down',
            {
              headers: { 'retry-after': '1' },
            },
          );
        }
        this.#metrics.acquire('error', undefined);
        throw error;
      }
    }
    const waitedMs = Math.max(0, Math.round(input.elapsedMs()));
    const waited = input.waitMs > 0 ? waitedMs / 1_000 : undefined;
    if (lease !== null) {
      const granted = {
        key,
        token: lease.token,
        ...(lease.fence === undefined ? {} : { fence: lease.fence }),
      };
      // A grant under an Idempotency-Key is never given back: its store token is the key's, so
      // the client's retry (here or on another instance) holds this very holding, and giving it
      // back would release the retry's lock. It is left to its TTL (the SDK releases it by its
      // Idempotency-Key when its caller aborts). Without a key, nobody else can ever name it.
      const giveBack = token === undefined;
      if (input.gone.aborted) {
        // Granted as the client left: nobody will renew or release it under this answer.
        this.#metrics.acquire(giveBack ? 'abandoned' : 'abandoned_kept', waited);
        if (giveBack) await this.#giveBack(granted);
        return { kind: 'gone' };
      }
      // The answer may still fail to reach the client (it leaves while it is written).
      input.gone.addEventListener(
        'abort',
        () => {
          this.#metrics.acquire(giveBack ? 'abandoned' : 'abandoned_kept', undefined);
          if (giveBack) void this.#giveBack(granted);
        },
        { once: true },
      );
      this.#metrics.acquire('granted', waited);
      return {
        kind: 'granted',
        token: encodeLeaseToken(lease.token, lease.fence),
        fence: lease.fence,
        ttlMs: input.ttlMs,
        expiresAt: Math.floor(lease.expiresAt),
        waitedMs,
      };
    }
    this.#metrics.acquire(input.waitMs > 0 ? 'timed_out' : 'contended', waited);
    return { kind: 'held', ...(await this.#holder(key)) };
  }

  /** Releases a grant whose client went away; a failure leaves it to its TTL (nobody to tell). */
  async #giveBack(holding: { key: string; token: string; fence?: number }): Promise<void> {
    try {
      await this.locker.releaseHolding(holding);
    } catch {
      // The store failed: the holding expires by its TTL.
    }
  }

  /** Who holds `key`, never the token: best effort (a failing inspect gives `null`). */
  async #holder(key: string): Promise<{ holder: HolderView | null; retryAfterS: number }> {
    try {
      const info = this.backend.inspect ? await this.locker.inspect(key) : null;
      if (info?.held) {
        const remaining = info.ttlRemainingMs;
        return {
          holder: {
            owner: decodeHolder(info.owner).owner,
            expiresAt: remaining === undefined ? null : Math.floor(Date.now() + remaining),
          },
          retryAfterS: remaining === undefined ? 1 : Math.max(1, Math.ceil(remaining / 1_000)),
        };
      }
    } catch {
      // The 409 stands without the holder's details.
    }
    return { holder: null, retryAfterS: 1 };
  }

  /** Renews the holding `credential` names; 410 when it no longer holds the key. */
  async renew(tenant: string, key: string, credential: HoldingCredential, ttlMs: number): Promise<Renewed> {
    const ref = this.#ref(tenant, key, credential);
    this.checkTtl(ttlMs, 'renew');
    try {
      const renewed = await this.locker.renewHolding(ref, { ttl: ttlMs });
      this.#metrics.renewal('renewed');
      return {
        fence: renewed.fence ?? ref.fence,
        ttlMs: renewed.ttlMs,
        expiresAt: Math.floor(renewed.expiresAt),
      };
    } catch (error) {
      this.#metrics.renewal(isLeaseError(error, 'LEASE_LOST') ? 'lost' : 'error');
      throw error;
    }
  }

  /** Releases the holding `credential` names: `false` when it no longer held the key. */
  async release(tenant: string, key: string, credential: HoldingCredential): Promise<boolean> {
    const ref = this.#ref(tenant, key, credential);
    try {
      const released = await this.locker.releaseHolding(ref);
      this.#metrics.release(released ? 'released' : 'lost');
      return released;
    } catch (error) {
      this.#metrics.release('error');
      throw error;
    }
  }

  /** The store's view of the tenant's `key`: `null` when nobody holds it. */
  async inspect(tenant: string, key: string): Promise<Inspected | null> {
    const info = await this.locker.inspect(storeKey(tenant, key));
    if (!info?.held) return null;
    const remaining = info.ttlRemainingMs;
    return {
      ...decodeHolder(info.owner),
      fence: info.fence,
      expiresAt: remaining === undefined ? null : Date.now() + remaining,
      ttlRemainingMs: remaining === undefined ? null : Math.max(0, Math.round(remaining)),
      storeToken: info.token,
    };
  }

  /**
   * The holding a credential names. A lease token carries the store token and the fence; an
   * `Idempotency-Key` names the store token its acquire derived (any instance sharing the secret
   * derives the same), with the fence only when the client sends it.
   */
  #ref(
    tenant: string,
    key: string,
    credential: HoldingCredential,
  ): { key: string; token: string; fence?: number } {
    const storeKeyOf = storeKey(tenant, key);
    const { token, fence } =
      'idempotencyKey' in credential
        ? {
            token: idempotentStoreToken(this.#secret, tenant, key, credential.idempotencyKey),
            fence: credential.fence,
          }
        : { token: credential.leaseToken.storeToken, fence: credential.leaseToken.fence };
    return fence === undefined ? { key: storeKeyOf, token } : { key: storeKeyOf, token, fence };
  }
}

/**
 * A signal that aborts when `a` or `b` does, until `dispose()`. `AbortSignal.any` does the same
 * but tracks its sources with weak references, which every waiting acquire leaves for the
 * garbage collector to clear (see bench/README.md, lock service); here the two listeners are
 * removed as soon as the wait ends.
 */
function eitherSignal(a: AbortSignal, b: AbortSignal): { readonly signal: AbortSignal; dispose(): void } {
  const either = new AbortController();
  if (a.aborted || b.aborted) {
    either.abort(a.aborted ? a.reason : b.reason);
    return { signal: either.signal, dispose: () => {} };
  }
  const onA = () => either.abort(a.reason);
  const onB = () => either.abort(b.reason);
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: either.signal,
    dispose: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}
