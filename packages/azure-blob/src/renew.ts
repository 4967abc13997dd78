import type { LeaseRef, RenewOutcome } from '@leasekit/core';
import { type BackendContext, leaseKey } from './context.js';
import { classifyError, describeAnswer, HELD_CODES, hasCode, httpStatus, LOST_CODES } from './errors.js';
import { checkLeaseId, leaseSeconds, sameLeaseId } from './lease-params.js';

/** The lease is gone or someone else's: 409/412 lease conflicts, or no blob at all. */
function isLoss(error: unknown): boolean {
  return hasCode(error, LOST_CODES) || hasCode(error, HELD_CODES) || httpStatus(error) === 404;
}

/**
 * One renewal: `Renew Lease` with our lease ID, which must answer with our own ID (Azurite renews an
 * expired lease for any ID and answers with the old holder's). Azure renews for the duration the
 * lease was acquired with: a different TTL adds an acquire with the same ID, which Azure treats as a
 * change of duration while we hold the lease (just checked by the renewal).
 */
export async function renew(context: BackendContext, lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> {
  const { key, token } = lease;
  context.ensureOpen('renew', key);
  const seconds = leaseSeconds(ttlMs, 'renew', key, false);
  const name = context.blobName(key, 'renew');
  checkLeaseId(token, 'renew', key);
  const blob = context.blobClient(name);
  const leaseClient = blob.getBlobLeaseClient(token);
  const remembered = leaseKey(key, token);
  const lost = (detail: string, cause?: unknown): RenewOutcome => {
    context.durations.delete(remembered);
    return { status: 'lost', detail, cause };
  };
  try {
    const response = await context.call((abortSignal) => leaseClient.renewLease({ abortSignal }));
    if (response.leaseId !== undefined && !sameLeaseId(response.leaseId, token)) {
      // Not ours: undo what the emulator revived (its holder is past its deadline), so the key is
      // not blocked for a TTL.
      const revived = blob.getBlobLeaseClient(response.leaseId);
      await context.call((abortSignal) => revived.releaseLease({ abortSignal })).catch(() => {});
      return lost('the renewal answered with another lease ID: the lease is not ours');
    }
  } catch (error) {
    if (isLoss(error)) return lost(describeAnswer(error), error);
    throw classifyError(error, 'renew', key);
  }
  if (context.durations.get(remembered) !== seconds) {
    try {
      await context.call((abortSignal) => leaseClient.acquireLease(seconds, { abortSignal }));
    } catch (error) {
      if (isLoss(error)) return lost(describeAnswer(error), error);
      throw classifyError(error, 'renew', key);
    }
    context.durations.set(remembered, seconds);
  }
  return { status: 'renewed' };
}
