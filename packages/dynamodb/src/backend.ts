import { randomUUID } from 'node:crypto';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  type AcquireOutcome,
  type AcquireRequest,
  type BackendCapabilities,
  BackendUnavailableError,
  ClosedError,
  type Duration,
  type HandOverOutcome,
  InvalidArgumentError,
  type LeaseBackend,
  type LeaseInfo,
  type LeaseRef,
  type RenewOutcome,
  toMs,
} from '@leasekit/core';
import { BACKEND, classifyError, invalid } from './errors.js';
import { describeLoss, type LockItem, readItem } from './item.js';
import { Observations } from './observations.js';
import {
  ATTR,
  DEFAULT_GC_ATTRIBUTE,
  DEFAULT_PARTITION_KEY,
  FENCE_CLOCK_SLACK_MS,
  FENCES_PER_MS,
} from './schema.js';
import {
  acquireCommand,
  conditionFailed,
  fenceCeiling,
  readCommand,
  releaseCommand,
  renewCommand,
  type Table,
} from './writes.js';

export type TakeoverRule = 'observed' | 'wall-clock';

export interface DynamoDbBackendOptions {
  /** A client you built. The backend never destroys it; see the README for the settings it should have. */
  readonly client?: DynamoDBClient;
  /**
   * Or a configuration: the backend builds the client (by default with `maxAttempts: 1`, so
   * core's retries within the lease's validity are the only ones, and a 5 s request timeout)
   * and destroys it on `close()`.
   */
  readonly clientConfig?: DynamoDBClientConfig;
  /** The lock table (see `createLockTable()` and the README for its schema). */
  readonly tableName: string;
  /** Name of the table's string partition key. Default `'key'`. */
  readonly partitionKey?: string;
  /** Prepended to every lock key, to share a table between applications. Default `''`. */
  readonly keyPrefix?: string;
  /**
   * DynamoDB TTL attribute (epoch seconds) written on every item so that idle items are
   * garbage-collected; `false` never writes it. Default `'gcAt'`. Only for clean-up: expiry of a
   * lease never depends on it.
   */
  readonly gcAttribute?: string | false;
  /** How long an item must stay idle (released, or its lease run out) before DynamoDB may delete it. At least 1 h. Default `'168h'` (7 days). */
  readonly gcAfter?: Duration;
  /**
   * How a lease held by someone else that stopped renewing is taken over.
   * - `'observed'` (default, the approach of AWS's DynamoDB lock client): only after this client
   *   has seen the item's record version unchanged for a full lease duration on its own
   *   monotonic clock, by a write conditioned on that version. Safe whatever the clocks of the
   *   machines say; a new contender waits up to one lease duration after it first looks.
   * - `'wall-clock'`: also as soon as the holder's `leaseUntil` (its wall clock + lease) is more
   *   than `maxClockSkew` in the past by this machine's wall clock. Faster, but if two machines'
   *   clocks differ by more than `maxClockSkew` (NTP failure, VM pause, a clock step), a live
   *   holder can be taken over: two holders at once. Use only with fencing at the resource.
   */
  readonly takeover?: TakeoverRule;
  /** `takeover: 'wall-clock'` only: the largest clock difference between machines tolerated. Default `'1s'`. */
  readonly maxClockSkew?: Duration;
  /** How many keys' observations to remember (least recently written dropped first; dropping one only delays a takeover). Default 10 000. */
  readonly maxObservations?: number;
}

export interface DynamoDbBackend extends LeaseBackend {
  readonly capabilities: DynamoDbCapabilities;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Renews and draws `fences` fencing tokens in one conditional write (local hand-overs). */
  handOver(lease: LeaseRef, ttlMs: number, fences: number): Promise<HandOverOutcome>;
  /** A strongly consistent read of the key's item: holder, fence, owner; `null` if never used. */
  inspect(key: string): Promise<LeaseInfo | null>;
  /**
   * Admin operation: clears whoever holds `key` now (keeping the item and its fence), as if it
   * had been released. The holder learns it at its next renewal. `false`: nobody held it.
   */
  breakLease(key: string): Promise<boolean>;
}

/** DynamoDB's limit on a partition key value, in bytes (UTF-8). */
const MAX_KEY_BYTES = 2048;
const HOUR_MS = 3_600_000;

export interface DynamoDbCapabilities extends BackendCapabilities {
  /**
   * The lease must be at least twice the renew interval (a locker's `renewFraction` at most
   * 0.5), so that a failed renewal can be retried before a watching client may take over.
   * Core enforces it in `createLocker`; its default (1/3) satisfies it.
   */
  readonly maxRenewFraction: number;
}

const capabilities: DynamoDbCapabilities = {
  fencing: true,
  minTtlMs: 100,
  maxTtlMs: 2 ** 31 - 1,
  infiniteTtl: true,
  maxRenewFraction: 0.5,
};

/**
 * A lease backend on one DynamoDB table: one item per key; acquire, renew and release are
 * single conditional writes; release keeps the item and its fence counter; taking over a
 * holder that stopped renewing is safe under clock skew (see `takeover`).
 */
export function createDynamoDbBackend(options: DynamoDbBackendOptions): DynamoDbBackend {
  const config = resolve(options);
  const { table } = config;
  const ownsClient = options.client === undefined;
  const client =
    options.client ??
    new DynamoDBClient({
      maxAttempts: 1,
      requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 },
      ...options.clientConfig,
    });
  const observations = new Observations(config.maxObservations);
  let closed = false;

  const ensureOpen = (operation: string, key?: string) => {
    if (closed) throw new ClosedError('the backend is closed', { backend: BACKEND, operation, key });
  };

  /** A strongly consistent read, for the rare paths where a failed write returned no item. */
  const read = async (key: string, operation: string): Promise<LockItem | undefined> => {
    try {
      const { Item } = await client.send(readCommand(table, key));
      return readItem(Item);
    } catch (error) {
      throw classifyError(error, operation, key);
    }
  };

  /**
   * An earlier attempt of this very acquire landed (its answer was lost): the key is ours. Renew
   * it, so that the validity core counts from this call's start is true, and report its fence.
   */
  const reclaim = async (request: AcquireRequest): Promise<AcquireOutcome> => {
    const sentAt = performance.now();
    const rvn = randomUUID();
    try {
      const { Attributes } = await client.send(
        renewCommand(
          table,
          { key: request.key, token: request.token, rvn, ttlMs: request.ttlMs, wallNow: Date.now() },
          true,
        ),
      );
      const item = readItem(Attributes);
      observations.noteOwnWrite(request.key, {
        rvn,
        token: request.token,
        leaseMs: request.ttlMs,
        seenAt: sentAt,
      });
      return { status: 'acquired', fence: item?.fence };
    } catch (error) {
      if (!conditionFailed(error)) throw classifyError(error, 'acquire', request.key);
      observations.noteItem(request.key, readItem(error.Item), performance.now());
      return { status: 'held' };
    }
  };

  /** Renews; with `fences`, also draws that many fences (a hand-over) and answers the highest. */
  const renewOne = async (lease: LeaseRef, ttlMs: number, fences = 0): Promise<HandOverOutcome> => {
    const sentAt = performance.now();
    const rvn = randomUUID();
    let fence: number | undefined;
    try {
      const { Attributes } = await client.send(
        renewCommand(
          table,
          { key: lease.key, token: lease.token, rvn, ttlMs, wallNow: Date.now() },
          false,
          fences,
        ),
      );
      if (fences > 0) fence = readItem(Attributes)?.fence;
    } catch (error) {
      if (!conditionFailed(error)) throw classifyError(error, 'renew', lease.key);
      // No item returned: the item does not exist (a failed condition on a missing item returns none).
      const item = readItem(error.Item);
      // Still ours: the condition that failed is the fence ceiling (nothing was written).
      if (fences > 0 && item?.token === lease.token) throw aheadOfClock(lease.key, 'renew', item.fence);
      observations.noteItem(lease.key, item, performance.now());
      return { status: 'lost', detail: describeLoss(item) };
    }
    observations.noteOwnWrite(lease.key, { rvn, token: lease.token, leaseMs: ttlMs, seenAt: sentAt });
    return fence === undefined ? { status: 'renewed' } : { status: 'renewed', fence };
  };

  const clear = async (key: string, token: string | undefined, operation: string): Promise<boolean> => {
    try {
      await client.send(releaseCommand(table, { key, token, rvn: randomUUID(), wallNow: Date.now() }));
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw classifyError(error, operation, key);
    }
    observations.forget(key);
    return true;
  };

  return {
    name: BACKEND,
    capabilities,
    client,
    tableName: table.tableName,

    validateKey(key: string, operation: string): void {
      const bytes = Buffer.byteLength(table.keyPrefix + key, 'utf8');
      if (bytes > MAX_KEY_BYTES) {
        throw new InvalidArgumentError(
          `key must be at most ${MAX_KEY_BYTES} bytes in UTF-8 (DynamoDB's partition key limit, keyPrefix included); got ${bytes}`,
          { backend: BACKEND, operation },
        );
      }
    },

    async tryAcquire(request: AcquireRequest): Promise<AcquireOutcome> {
      ensureOpen('acquire', request.key);
      const { key, token } = request;
      const sentAt = performance.now();
      const wallNow = Date.now();
      const rvn = randomUUID();
      try {
        const { Attributes } = await client.send(
          acquireCommand(table, {
            key,
            token,
            rvn,
            ttlMs: request.ttlMs,
            owner: request.owner,
            wallNow,
            takeoverRvn: observations.eligible(key, token, sentAt),
            wallClockCutoff: config.takeover === 'wall-clock' ? wallNow - config.maxClockSkewMs : undefined,
          }),
        );
        observations.noteOwnWrite(key, { rvn, token, leaseMs: request.ttlMs, seenAt: sentAt });
        return { status: 'acquired', fence: readItem(Attributes)?.fence };
      } catch (error) {
        if (!conditionFailed(error)) throw classifyError(error, 'acquire', key);
        // The version is timed from when we saw it: the failed write's answer, or, when that
        // carried no item, the fallback read's answer (the version it returns may have been
        // written while the read was on its way; timing it from before would age it early).
        let receivedAt = performance.now();
        let item: LockItem | undefined;
        if (error.Item) {
          item = readItem(error.Item);
        } else {
          item = await read(key, 'acquire');
          receivedAt = performance.now();
        }
        if (item?.token === token) return reclaim(request);
        if (item?.fence !== undefined && item.fence > fenceCeiling(wallNow) - 1)
          throw aheadOfClock(key, 'acquire', item.fence);
        observations.noteItem(key, item, receivedAt);
        // No `retryAfterMs`: a release is only seen by polling (there is no hint), so core's
        // backoff decides when to look again.
        return { status: 'held' };
      }
    },

    renew(lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> {
      ensureOpen('renew', lease.key);
      return renewOne(lease, ttlMs);
    },

    handOver(lease: LeaseRef, ttlMs: number, fences: number): Promise<HandOverOutcome> {
      ensureOpen('renew', lease.key);
      return renewOne(lease, ttlMs, fences);
    },

    release(lease: LeaseRef): Promise<boolean> {
      ensureOpen('release', lease.key);
      return clear(lease.key, lease.token, 'release');
    },

    breakLease(key: string): Promise<boolean> {
      ensureOpen('break', key);
      return clear(key, undefined, 'break');
    },

    async inspect(key: string): Promise<LeaseInfo | null> {
      ensureOpen('inspect', key);
      const item = await read(key, 'inspect');
      if (!item) return null;
      if (item.token === undefined) return { key, held: false, fence: item.fence };
      return {
        key,
        held: true,
        token: item.token,
        fence: item.fence,
        // By the holder's wall clock against ours: approximate.
        ttlRemainingMs: item.leaseUntil === undefined ? undefined : Math.max(0, item.leaseUntil - Date.now()),
        owner: item.owner,
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      observations.clear();
      if (ownsClient) client.destroy();
    },
  };
}

/**
 * The key's fence counter is further ahead of this machine's wall clock than the slack allows: a
 * write now could hand out fences that an item re-created after a garbage collection would repeat.
 * Retryable: the clock catches up (or this machine's clock is far behind the others').
 */
function aheadOfClock(
  key: string,
  operation: 'acquire' | 'renew',
  fence: number | undefined,
): BackendUnavailableError {
  const aheadMs = fence === undefined ? 0 : Math.round(fence / FENCES_PER_MS - Date.now());
  return new BackendUnavailableError(
    `the key's fence counter is ahead of this machine's clock by ${aheadMs} ms (more than the ${FENCE_CLOCK_SLACK_MS / 60_000} min allowed, so that fences stay increasing across a garbage collection): check this machine's clock; ${operation === 'renew' ? 'no fences drawn, the holding is unchanged' : 'not acquired'}`,
    { backend: BACKEND, operation, key },
  );
}

interface Resolved {
  readonly table: Table;
  readonly takeover: TakeoverRule;
  readonly maxClockSkewMs: number;
  readonly maxObservations: number;
}

function resolve(options: DynamoDbBackendOptions): Resolved {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  if (options.client !== undefined && options.clientConfig !== undefined) {
    throw invalid('client and clientConfig must not both be set: pass one');
  }
  if (options.client !== undefined && typeof (options.client as { send?: unknown }).send !== 'function') {
    throw invalid('client must be a DynamoDBClient');
  }
  if (typeof options.tableName !== 'string' || !/^[A-Za-z0-9_.-]{3,255}$/.test(options.tableName)) {
    throw invalid(
      `tableName must be 3 to 255 characters of letters, digits, '_', '-', '.'; got ${JSON.stringify(options.tableName)}`,
    );
  }
  const partitionKey = options.partitionKey ?? DEFAULT_PARTITION_KEY;
  if (typeof partitionKey !== 'string' || partitionKey.length === 0) {
    throw invalid('partitionKey must be a non-empty string');
  }
  const reserved = new Set<string>(Object.values(ATTR));
  if (reserved.has(partitionKey)) {
    throw invalid(`partitionKey must not be one of leasekit's attribute names (${[...reserved].join(', ')})`);
  }
  const keyPrefix = options.keyPrefix ?? '';
  if (typeof keyPrefix !== 'string') throw invalid('keyPrefix must be a string');
  const gcAttribute = options.gcAttribute ?? DEFAULT_GC_ATTRIBUTE;
  if (gcAttribute !== false && (typeof gcAttribute !== 'string' || gcAttribute.length === 0)) {
    throw invalid('gcAttribute must be a non-empty string, or false');
  }
  if (gcAttribute !== false && (reserved.has(gcAttribute) || gcAttribute === partitionKey)) {
    throw invalid(`gcAttribute must differ from partitionKey and from leasekit's attribute names`);
  }
  const gcAfterMs = toMs(options.gcAfter ?? '168h', 'gcAfter', {
    error: { backend: BACKEND, operation: 'configure' },
  });
  if (gcAfterMs < HOUR_MS) {
    // Fences are seeded from the wall clock when an item is (re)created, and never run more
    // than FENCE_CLOCK_SLACK_MS (15 min) ahead of it: an idle period longer than that plus twice
    // the clock skew keeps them increasing across a garbage collection (README).
    throw invalid(`gcAfter must be at least 1h; got ${gcAfterMs} ms`);
  }
  const takeover = options.takeover ?? 'observed';
  if (takeover !== 'observed' && takeover !== 'wall-clock') {
    throw invalid(`takeover must be 'observed' or 'wall-clock'; got ${String(takeover)}`);
  }
  const maxClockSkewMs = toMs(options.maxClockSkew ?? '1s', 'maxClockSkew', {
    error: { backend: BACKEND, operation: 'configure' },
  });
  const maxObservations = options.maxObservations ?? 10_000;
  if (!Number.isInteger(maxObservations) || maxObservations < 1) {
    throw invalid(`maxObservations must be a positive integer; got ${String(maxObservations)}`);
  }
  return {
    table: {
      tableName: options.tableName,
      partitionKey,
      keyPrefix,
      gcAttribute: gcAttribute === false ? undefined : gcAttribute,
      gcAfterMs,
    },
    takeover,
    maxClockSkewMs,
    maxObservations,
  };
}
