import type { ContainerClient } from '@azure/storage-blob';
import type { Duration, LeaseBackend } from '@leasekit/core';
import { acquire } from './acquire.js';
import { type AzureLeaseInfo, type BreakLeaseResult, breakLease, inspect } from './admin.js';
import { decodeLockBlobName, type KeyLayout } from './blob-names.js';
import { createContext } from './context.js';
import { BACKEND_NAME } from './errors.js';
import { capabilitiesFor } from './lease-params.js';
import { type AzureBlobBackendOptions, resolveOptions } from './options.js';
import { release } from './release.js';
import { renew } from './renew.js';

export interface AzureBlobBackend extends LeaseBackend {
  readonly name: 'azure-blob';
  /** The container the leases live in. */
  readonly containerClient: ContainerClient;
  readonly keys: KeyLayout;
  /** The blob a key is leased on (refuses a key that cannot be one). */
  blobName(key: string): string;
  /** The key a lock blob name stands for (`lock-blobs`), or the name itself (`blob-names`). */
  keyOf(blobName: string): string | undefined;
  inspect(key: string): Promise<AzureLeaseInfo | null>;
  /**
   * Admin: breaks whoever holds `key`, after `breakPeriod` (0 to 60 s, default 0: now). The holder
   * learns it at its next renewal; nobody can take the key until the break period ends.
   */
  breakLease(key: string, breakPeriod?: Duration): Promise<BreakLeaseResult>;
}

/**
 * A leasekit backend on Azure Blob Storage leases. Acquire is one `Lease Blob` request on an
 * existing blob (lock blobs are created on first use); 409 `LeaseAlreadyPresent` means held, and
 * 409/412 lease conflicts on renew or release mean lost / not the holder. The locker's token is the
 * proposed lease ID, so a retried acquire is idempotent. Options are checked before any I/O.
 */
export function createAzureBlobBackend(options: AzureBlobBackendOptions): AzureBlobBackend {
  const resolved = resolveOptions(options);
  const context = createContext(resolved);
  return {
    name: BACKEND_NAME,
    capabilities: capabilitiesFor(resolved.fencing, 1024 - resolved.prefix.length),
    containerClient: resolved.containerClient,
    keys: resolved.layout,
    blobName: (key) => context.blobName(key, 'acquire'),
    keyOf: (blobName) =>
      resolved.layout === 'blob-names' ? blobName : decodeLockBlobName(blobName, resolved.prefix),
    validateKey: (key, operation) => {
      context.blobName(key, operation);
    },
    tryAcquire: (request) => acquire(context, request),
    renew: (lease, ttlMs) => renew(context, lease, ttlMs),
    release: (lease) => release(context, lease),
    inspect: (key) => inspect(context, key),
    breakLease: (key, breakPeriod = 0) => breakLease(context, key, breakPeriod),
    close: async () => {
      context.close();
    },
  };
}
