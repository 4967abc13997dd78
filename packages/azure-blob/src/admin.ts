import type { BlobClient } from '@azure/storage-blob';
import { type Duration, InvalidArgumentError, type LeaseInfo, toMs } from '@leasekit/core';
import type { BackendContext } from './context.js';
import { BACKEND_NAME, classifyError, hasCode, httpStatus, LOST_CODES } from './errors.js';
import { decodeOwner, fenceOf, METADATA, metadataValue } from './fencing.js';

/** How Azure describes a blob's lease. */
export type AzureLeaseState = 'available' | 'leased' | 'expired' | 'breaking' | 'broken';

/** `inspect` on Azure: leasekit's view plus Azure's own lease fields. */
export interface AzureLeaseInfo extends LeaseInfo {
  /** The blob holding the lease. */
  readonly blobName: string;
  readonly state: AzureLeaseState;
  /** `'fixed'` (15 to 60 s) or `'infinite'`, while leased. */
  readonly duration: 'fixed' | 'infinite' | undefined;
  readonly etag: string | undefined;
}

export interface BreakLeaseResult {
  /** False when there was no lease to break (or no blob). */
  readonly broken: boolean;
  /** How long until the lease is fully broken (0: it is broken now). */
  readonly remainingMs: number;
}

/**
 * Reads a key's lease from the blob's properties: Azure's state and duration, and the fence and
 * owner that fencing writes in the metadata. Azure never reveals the lease ID. `null`: no blob.
 */
export async function inspect(context: BackendContext, key: string): Promise<AzureLeaseInfo | null> {
  context.ensureOpen('inspect', key);
  const name = context.blobName(key, 'inspect');
  const blob = context.blobClient(name);
  let properties: Awaited<ReturnType<BlobClient['getProperties']>>;
  try {
    properties = await context.call((abortSignal) => blob.getProperties({ abortSignal }));
  } catch (error) {
    if (httpStatus(error) === 404) return null;
    throw classifyError(error, 'inspect', key);
  }
  const held = properties.leaseStatus === 'locked';
  const metadata = properties.metadata ?? {};
  return {
    key,
    held,
    fence: fenceOf(metadata),
    owner: held ? decodeOwner(metadataValue(metadata, METADATA.owner)) : undefined,
    blobName: name,
    state: (properties.leaseState ?? 'available') as AzureLeaseState,
    duration: held ? properties.leaseDuration : undefined,
    etag: properties.etag,
  };
}

/** Breaks whoever holds `key`, now or after up to 60 s. Nothing to break: `{ broken: false }`. */
export async function breakLease(
  context: BackendContext,
  key: string,
  breakPeriod: Duration,
): Promise<BreakLeaseResult> {
  context.ensureOpen('break', key);
  const periodMs = toMs(breakPeriod, 'breakPeriod', {
    error: { backend: BACKEND_NAME, operation: 'break', key },
  });
  if (periodMs > 60_000 || periodMs % 1_000 !== 0) {
    throw new InvalidArgumentError(`breakPeriod must be whole seconds from 0 to 60s; got ${periodMs}ms`, {
      backend: BACKEND_NAME,
      operation: 'break',
      key,
    });
  }
  const breaker = context.blobClient(context.blobName(key, 'break')).getBlobLeaseClient();
  try {
    const response = await context.call((abortSignal) =>
      breaker.breakLease(periodMs / 1_000, { abortSignal }),
    );
    return { broken: true, remainingMs: (response.leaseTime ?? 0) * 1_000 };
  } catch (error) {
    if (hasCode(error, LOST_CODES) || httpStatus(error) === 404) return { broken: false, remainingMs: 0 };
    throw classifyError(error, 'break', key);
  }
}
