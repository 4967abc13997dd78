import type { LeaseRef } from '@leasekit/core';
import { type BackendContext, leaseKey } from './context.js';
import { classifyError, hasCode, httpStatus, LOST_CODES } from './errors.js';
import { isLeaseId } from './lease-params.js';

/**
 * One release: `Release Lease` with our lease ID. `true` when it released our lease; `false` when
 * the lease is verifiably not ours any more (someone else's, none at all, no blob), which is also
 * what an SDK retry of a release that did land meets (409): that resolves, it does not throw.
 */
export async function release(context: BackendContext, lease: LeaseRef): Promise<boolean> {
  const { key, token } = lease;
  context.ensureOpen('release', key);
  const name = context.blobName(key, 'release');
  context.durations.delete(leaseKey(key, token));
  // Not a GUID: it cannot be an Azure lease ID, so it holds nothing.
  if (!isLeaseId(token)) return false;
  const leaseClient = context.blobClient(name).getBlobLeaseClient(token);
  try {
    await context.call((abortSignal) => leaseClient.releaseLease({ abortSignal }));
    return true;
  } catch (error) {
    if (hasCode(error, LOST_CODES) || httpStatus(error) === 404) return false;
    throw classifyError(error, 'release', key);
  }
}
