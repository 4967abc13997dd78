import { type BackendCapabilities, formatMs, InvalidArgumentError } from '@leasekit/core';
import { MAX_BLOB_NAME_LENGTH } from './blob-names.js';
import { BACKEND_NAME } from './errors.js';

/** Azure's shortest finite lease. */
export const MIN_LEASE_MS = 15_000;
/** Azure's longest finite lease. */
export const MAX_LEASE_MS = 60_000;
/** What Azure takes for an infinite lease. */
export const INFINITE_LEASE = -1;

export function capabilitiesFor(fencing: boolean, maxKeyLength: number): BackendCapabilities {
  return {
    fencing,
    minTtlMs: MIN_LEASE_MS,
    maxTtlMs: MAX_LEASE_MS,
    infiniteTtl: true,
    ttlGranularityMs: 1_000,
    maxKeyLength: Math.min(maxKeyLength, MAX_BLOB_NAME_LENGTH),
  };
}

/**
 * A TTL as Azure's lease duration: whole seconds from 15 to 60, or -1 for `Infinity`. Anything
 * else is refused before any I/O (the locker checks the same range; this guards direct SPI calls).
 */
export function leaseSeconds(ttlMs: number, operation: string, key: string, allowInfinite = true): number {
  if (ttlMs === Infinity && allowInfinite) return INFINITE_LEASE;
  if (
    typeof ttlMs !== 'number' ||
    !Number.isInteger(ttlMs) ||
    ttlMs < MIN_LEASE_MS ||
    ttlMs > MAX_LEASE_MS ||
    ttlMs % 1_000 !== 0
  ) {
    const allowed = `whole seconds from ${formatMs(MIN_LEASE_MS)} to ${formatMs(MAX_LEASE_MS)}${allowInfinite ? ', or Infinity' : ''}`;
    throw new InvalidArgumentError(
      `ttl must be ${allowed}: Azure leases accept nothing else; got ${typeof ttlMs === 'number' ? formatMs(ttlMs) : typeof ttlMs}`,
      { backend: BACKEND_NAME, operation, key },
    );
  }
  return ttlMs / 1_000;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `token` can be an Azure lease ID (a GUID). */
export function isLeaseId(token: unknown): token is string {
  return typeof token === 'string' && GUID.test(token);
}

/** The token is the proposed lease ID, which Azure wants as a GUID (the locker's tokens are UUIDs). */
export function checkLeaseId(token: string, operation: string, key: string): string {
  if (!isLeaseId(token)) {
    throw new InvalidArgumentError(
      `token must be a GUID (it is the Azure lease ID); got ${JSON.stringify(String(token)).slice(0, 60)}`,
      { backend: BACKEND_NAME, operation, key },
    );
  }
  return token;
}

/** Azure lease IDs compare case-insensitively. */
export function sameLeaseId(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}
