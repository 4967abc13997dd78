import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AcquireTimeoutError,
  type Duration,
  formatMs,
  InvalidArgumentError,
  isLeaseError,
  type LeaseError,
  LeaseLostError,
} from '@leasekit/core';
import { readGrant, readHolder, readRenewal, remainingMs } from './answers.js';
import { fetchCapabilities, type ServiceCapabilities } from './capabilities.js';
import { type ErrorContext, errorFromAnswer } from './errors.js';
import { type ConnectionOptions, durationMs, resolveConnection } from './options.js';
import { type HttpAnswer, lockPath, problemOf, Transport } from './transport.js';

/** The seed SDK's exponential backoff between attempts: `min(max, initial·2ⁿ)` plus a random jitter below `maxJitter`. */
export interface BackoffOptions {
  /** First delay. Default `'100ms'`. */
  readonly initial?: Duration | undefined;
  /** Largest delay before jitter. Default `'5s'`. */
  readonly max?: Duration | undefined;
  /** Largest random amount added to each delay. Default `'500ms'`. */
  readonly maxJitter?: Duration | undefined;
}

export interface LockClientOptions extends ConnectionOptions {
  readonly backoff?: BackoffOptions | undefined;
}

/** A lock held through the service. */
export interface Lock {
  readonly key: string;
  /** The ownership credential: sent back (in a header) to refresh or release. Keep it secret. */
  readonly token: string;
  /** Fencing token, a decimal string (may exceed 2^53), strictly increasing across holders; `null` without fencing. */
  readonly fence: string | null;
  /** The TTL the service granted. */
  readonly ttlMs: number;
  /**
   * Epoch ms on this machine's clock until which the lock is certainly held: counted from
   * before the request was sent, with the service's own safety margin (never later than the store's expiry).
   */
  readonly expiresAt: number;
  /** What was passed as `owner`, as the service recorded it. */
  readonly owner: string | null;
}

export interface LockAcquireOptions {
  /** How long the lock lasts unless refreshed. Default: the service's (30 s). */
  readonly ttl?: Duration | undefined;
  /** How long to wait for a held key before `AcquireTimeoutError`. Default 0 (one attempt). */
  readonly wait?: Duration | undefined;
  /** Describes the holder; shown by `inspect` and in 409 answers (at most 200 characters). */
  readonly owner?: string | undefined;
  /** Up to 16 string entries (1 KiB as JSON), shown by `inspect`. */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** Recorded and reported by the service (`'timeout'` by default); the service never renews by itself. */
  readonly mode?: 'timeout' | 'lease' | undefined;
  /** Stops waiting: the call rejects with the signal's reason, and nothing is left locked. */
  readonly signal?: AbortSignal | undefined;
}

export interface AcquiredLock {
  readonly lock: Lock;
  /** Releases this lock: `true` if it was still held. Idempotent: a second call returns the first one's result. */
  release(): Promise<boolean>;
}

/**
 * What `GET /v1/locks/{key}` says about a held key (never its token). Times on the service's
 * clock; `null` where the store behind the service does not say (Redis keeps no owner).
 */
export interface LockInfo {
  readonly key: string;
  readonly held: boolean;
  readonly owner: string | null;
  /** The latest fence the store drew for the key (on Redis a refused attempt may draw one). */
  readonly fence: string | null;
  /** Epoch ms, on the service's clock. */
  readonly expiresAt: number | null;
  readonly ttlRemainingMs: number | null;
  readonly mode: string | null;
  readonly metadata: Readonly<Record<string, string>> | null;
}

/** The seed's Go `LockClient`, in TypeScript, over the leasekit lock service. */
export interface LockClient {
  /**
   * Takes `key`, waiting up to `wait` for it: each request waits on the service (up to 30 s, or
   * what is left), and a 409 that came back sooner is retried after the backoff. Rejects with
   * `AcquireTimeoutError` (`ACQUIRE_TIMEOUT`) once `wait` has passed.
   */
  acquire(key: string, options?: LockAcquireOptions): Promise<AcquiredLock>;
  /** `true` when released, `false` when the lock was no longer held (410). Needs only `key` and `token`. */
  release(lock: Pick<Lock, 'key' | 'token'>): Promise<boolean>;
  /** Extends the lock to `ttl` from now (default: its TTL). `LeaseLostError` (`LEASE_LOST`) if it is no longer held. */
  refresh(lock: Lock, ttl?: Duration): Promise<Lock>;
  /** Who holds `key`, or `null` when nobody does. */
  inspect(key: string): Promise<LockInfo | null>;
  /** The service's TTL range, fencing and waiting (`GET /v1/capabilities`). */
  capabilities(): Promise<ServiceCapabilities>;
  /** Aborts waiting acquires, lets other requests finish and closes the connections. Idempotent. */
  close(): Promise<void>;
}

const NAME = 'http';
/** The service serves waits of at most 30 s (API.md); longer waits are several requests. */
const MAX_SERVER_WAIT_MS = 30_000;
const KEY_PATTERN = /^[A-Za-z0-9._:~-]{1,200}$/;

interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly maxJitterMs: number;
}

/** Creates a lock client. Options are checked before any I/O; no request is sent until the first call. */
export function createLockClient(options: LockClientOptions): LockClient {
  const connection = resolveConnection(options, 'createLockClient');
  const backoff = resolveBackoff(options.backoff);
  const transport = new Transport(connection);

  const checkKey = (key: unknown, operation: string): string => {
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      throw new InvalidArgumentError(
        `key must be 1 to 200 characters of A-Z a-z 0-9 . _ : ~ -; got ${typeof key === 'string' ? JSON.stringify(key.slice(0, 60)) : typeof key}`,
        { backend: NAME, operation },
      );
    }
    return key;
  };
  const checkLock = <L extends Pick<Lock, 'key' | 'token'>>(lock: L, operation: string): L => {
    if (typeof lock !== 'object' || lock === null || typeof lock.token !== 'string' || lock.token === '') {
      throw new InvalidArgumentError('lock must be a Lock returned by acquire (with key and token)', {
        backend: NAME,
        operation,
      });
    }
    checkKey(lock.key, operation);
    return lock;
  };

  const release = async (lock: Pick<Lock, 'key' | 'token'>): Promise<boolean> => {
    checkLock(lock, 'release');
    const where = { backend: NAME, operation: 'release', key: lock.key };
    const answer = await transport.send(
      { method: 'DELETE', path: lockPath(lock.key), headers: { 'lease-token': lock.token } },
      where,
    );
    if (answer.status === 204) return true;
    if (answer.status === 410) return false;
    throw errorFromAnswer(problemOf(answer), where);
  };

  return {
    async acquire(key: string, acquireOptions: LockAcquireOptions = {}): Promise<AcquiredLock> {
      checkKey(key, 'acquire');
      const where = { backend: NAME, operation: 'acquire', key };
      if (typeof acquireOptions !== 'object' || acquireOptions === null) {
        throw new InvalidArgumentError('options must be an object', where);
      }
      const ttlMs =
        acquireOptions.ttl === undefined ? undefined : durationMs(acquireOptions.ttl, 'ttl', 'acquire', key);
      if (ttlMs === 0) throw new InvalidArgumentError('ttl must be a positive duration; got 0', where);
      const waitMs =
        acquireOptions.wait === undefined ? 0 : durationMs(acquireOptions.wait, 'wait', 'acquire', key);
      const { signal, owner, metadata, mode } = acquireOptions;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new InvalidArgumentError(`signal must be an AbortSignal; got ${typeof signal}`, where);
      }
      if (owner !== undefined && typeof owner !== 'string') {
        throw new InvalidArgumentError(`owner must be a string; got ${typeof owner}`, where);
      }
      if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null)) {
        throw new InvalidArgumentError('metadata must be an object of strings', where);
      }
      if (mode !== undefined && mode !== 'timeout' && mode !== 'lease') {
        throw new InvalidArgumentError(`mode must be 'timeout' or 'lease'; got ${String(mode)}`, where);
      }
      signal?.throwIfAborted();

      const body: Record<string, unknown> = {};
      if (ttlMs !== undefined) body.ttl = ttlMs;
      if (owner !== undefined) body.owner = owner;
      if (metadata !== undefined) body.metadata = metadata;
      if (mode !== undefined) body.mode = mode;
      // One key for this call, reused by its every request: a request retried after a network
      // error gets the holding an earlier one may have taken, not a 409 from itself.
      const headers = { 'idempotency-key': randomUUID() };
      const started = performance.now();
      const giveUpAt = started + waitMs;
      let attempts = 0;
      let step = 0;
      for (;;) {
        attempts++;
        const serverWaitMs = Math.max(
          0,
          Math.min(MAX_SERVER_WAIT_MS, Math.floor(giveUpAt - performance.now())),
        );
        const sentAt = Date.now();
        const sentMono = performance.now();
        let answer: HttpAnswer | undefined;
        let failure: LeaseError | undefined;
        try {
          answer = await transport.send(
            {
              method: 'POST',
              path: lockPath(key),
              headers,
              body: { ...body, wait: serverWaitMs },
              waitMs: serverWaitMs,
              signal,
              abortOnClose: true,
            },
            where,
          );
        } catch (error) {
          if (signal?.aborted || !isLeaseError(error)) throw error;
          failure = error;
        }
        if (answer?.status === 201) {
          const grant = readGrant(answer.body, where);
          const lock: Lock = {
            key,
            token: grant.token,
            fence: grant.fence,
            ttlMs: grant.ttlMs,
            expiresAt: sentAt + grant.waitedMs + remainingMs(grant.expiresAt, grant.serverTime),
            owner: grant.owner,
          };
          let released: Promise<boolean> | undefined;
          return { lock, release: () => (released ??= release(lock)) };
        }
        if (answer && answer.status !== 409) failure = errorFromAnswer(problemOf(answer), where);
        if (failure && !failure.retryable) throw failure;
        const now = performance.now();
        if (now >= giveUpAt) {
          if (failure) throw failure;
          throw new AcquireTimeoutError(
            `still held by someone else after waiting ${formatMs(waitMs)} (${attempts} attempt${attempts === 1 ? '' : 's'})`,
            { ...where, waitedMs: now - started, attempts, cause: answer && problemOf(answer) },
          );
        }
        // A 409 after the whole wait the service was asked to serve: ask again at once (the next
        // request waits on the service too). Sooner (no wait asked, or an error): back off.
        if (answer && serverWaitMs > 0 && now - sentMono >= serverWaitMs) {
          step = 0;
          continue;
        }
        const delay = Math.min(backoffDelay(step++, backoff), giveUpAt - now);
        await sleep(delay, undefined, signal ? { signal } : undefined).catch((error: unknown) => {
          throw signal?.aborted ? signal.reason : error;
        });
      }
    },

    release,

    async refresh(lock: Lock, ttl?: Duration): Promise<Lock> {
      checkLock(lock, 'renew');
      const where: ErrorContext = { backend: NAME, operation: 'renew', key: lock.key };
      const ttlMs = ttl === undefined ? lock.ttlMs : durationMs(ttl, 'ttl', 'renew', lock.key);
      if (!(ttlMs > 0))
        throw new InvalidArgumentError(`ttl must be a positive duration; got ${String(ttl)}`, where);
      const sentAt = Date.now();
      const answer = await transport.send(
        {
          method: 'POST',
          path: lockPath(lock.key, '/renew'),
          headers: { 'lease-token': lock.token },
          body: { ttl: ttlMs },
        },
        where,
      );
      if (answer.status === 200) {
        const renewal = readRenewal(answer.body, where);
        return {
          ...lock,
          fence: renewal.fence ?? lock.fence,
          ttlMs: renewal.ttlMs,
          expiresAt: sentAt + remainingMs(renewal.expiresAt, renewal.serverTime),
        };
      }
      if (answer.status === 410) {
        const cause = problemOf(answer);
        throw new LeaseLostError(
          'taken',
          cause.problem?.detail ?? 'the lock is no longer held with this token',
          {
            ...where,
            cause,
          },
        );
      }
      throw errorFromAnswer(problemOf(answer), where);
    },

    async inspect(key: string): Promise<LockInfo | null> {
      checkKey(key, 'inspect');
      const where = { backend: NAME, operation: 'inspect', key };
      const answer = await transport.send({ method: 'GET', path: lockPath(key) }, where);
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw errorFromAnswer(problemOf(answer), where);
      const holder = readHolder(answer.body, where);
      return {
        key,
        held: holder.held,
        owner: holder.owner,
        fence: holder.fence,
        expiresAt: holder.expiresAt,
        ttlRemainingMs: holder.ttlRemainingMs,
        mode: holder.mode,
        metadata: holder.metadata,
      };
    },

    capabilities(): Promise<ServiceCapabilities> {
      return fetchCapabilities(transport, { backend: NAME, operation: 'capabilities' });
    },

    close(): Promise<void> {
      return transport.close();
    },
  };
}

function resolveBackoff(options: BackoffOptions | undefined): Backoff {
  const fail = (detail: string) =>
    new InvalidArgumentError(`createLockClient: backoff.${detail}`, { operation: 'configure' });
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(
      'createLockClient: backoff must be an object { initial, max, maxJitter }',
      {
        operation: 'configure',
      },
    );
  }
  const read = (value: Duration | undefined, what: string, fallback: number) =>
    value === undefined ? fallback : durationMs(value, `createLockClient: backoff.${what}`, 'configure');
  const initialMs = read(options?.initial, 'initial', 100);
  const maxMs = read(options?.max, 'max', 5_000);
  const maxJitterMs = read(options?.maxJitter, 'maxJitter', 500);
  if (!(initialMs > 0)) throw fail(`initial must be a positive duration; got ${String(options?.initial)}`);
  if (maxMs < initialMs)
    throw fail(`max must be at least initial (${formatMs(initialMs)}); got ${formatMs(maxMs)}`);
  return { initialMs, maxMs, maxJitterMs };
}

/** The seed's delay: doubling from `initial` up to `max`, plus a random jitter below `maxJitter`. */
function backoffDelay(step: number, backoff: Backoff): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(step, 52));
  return base + Math.random() * backoff.maxJitterMs;
}
