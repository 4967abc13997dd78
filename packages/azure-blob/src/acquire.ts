import type { BlobClient } from '@azure/storage-blob';
import {
  type AcquireOutcome,
  type AcquireRequest,
  BackendUnavailableError,
  InvalidArgumentError,
} from '@leasekit/core';
import { type BackendContext, leaseKey } from './context.js';
import {
  BACKEND_NAME,
  classifyError,
  HELD_CODES,
  hasCode,
  httpStatus,
  isNotFound,
  LOST_CODES,
} from './errors.js';
import { stampFence } from './fencing.js';
import { checkLeaseId, leaseSeconds } from './lease-params.js';

/** Creates an empty lock blob unless one exists (409 `BlobAlreadyExists`: someone else just did). */
async function createLockBlob(context: BackendContext, blob: BlobClient): Promise<void> {
  try {
    await context.call((abortSignal) =>
      blob.getBlockBlobClient().upload('', 0, { conditions: { ifNoneMatch: '*' }, abortSignal }),
    );
  } catch (error) {
    const status = httpStatus(error);
    if (status === 409 || status === 412) return; // exists (and may be leased already)
    throw error;
  }
}

/**
 * One acquire: a `Lease Blob` request with the locker's token as the proposed lease ID (one round
 * trip on an existing blob). 409 `LeaseAlreadyPresent` / `LeaseIsBreakingAndCannotBeAcquired`: held.
 * For lock blobs, a missing container or blob is created and the acquire tried again. With fencing,
 * the next token is then written under the lease; if that fails, the lease is given back first.
 */
export async function acquire(context: BackendContext, request: AcquireRequest): Promise<AcquireOutcome> {
  const { key, token, ttlMs, owner } = request;
  context.ensureOpen('acquire', key);
  checkLeaseId(token, 'acquire', key);
  const seconds = leaseSeconds(ttlMs, 'acquire', key);
  const name = context.blobName(key, 'acquire');
  const blob = context.blobClient(name);
  const leaseClient = blob.getBlobLeaseClient(token);
  const lockBlobs = context.layout === 'lock-blobs';
  let etag: string | undefined;
  for (let round = 1; ; round++) {
    try {
      const response = await context.call((abortSignal) =>
        leaseClient.acquireLease(seconds, { abortSignal }),
      );
      etag = response.etag;
      break;
    } catch (error) {
      if (hasCode(error, HELD_CODES)) return { status: 'held' };
      if (lockBlobs && round < 3) {
        try {
          if (isNotFound(error, 'BlobNotFound')) {
            await createLockBlob(context, blob);
            continue;
          }
          if (isNotFound(error, 'ContainerNotFound') && context.createContainer) {
            await context.ensureContainer();
            continue;
          }
        } catch (setupError) {
          throw classifyError(setupError, 'acquire', key);
        }
      }
      if (isNotFound(error, 'BlobNotFound')) {
        if (lockBlobs) {
          throw new BackendUnavailableError(
            'the lock blob was deleted as fast as it was created; try again',
            {
              backend: BACKEND_NAME,
              operation: 'acquire',
              key,
              cause: error,
              retryable: true,
            },
          );
        }
        throw new InvalidArgumentError(
          `there is no blob ${JSON.stringify(name)} in container ${JSON.stringify(context.containerClient.containerName)}: with keys: 'blob-names' a key must name an existing blob`,
          { backend: BACKEND_NAME, operation: 'acquire', key, cause: error },
        );
      }
      throw classifyError(error, 'acquire', key);
    }
  }
  context.durations.set(leaseKey(key, token), seconds);
  if (!context.fencing) return { status: 'acquired' };
  try {
    const fence = await stampFence({
      blob,
      blobName: name,
      key,
      leaseId: token,
      owner,
      acquiredEtag: etag,
      cache: context.stamps,
      call: context.call,
    });
    return { status: 'acquired', fence };
  } catch (error) {
    // Leased, but no fence: give the lease back before saying so, so nothing is left locked.
    await context.call((abortSignal) => leaseClient.releaseLease({ abortSignal })).catch(() => {});
    context.durations.delete(leaseKey(key, token));
    if (hasCode(error, LOST_CODES)) return { status: 'held' };
    throw classifyError(error, 'acquire', key);
  }
}
