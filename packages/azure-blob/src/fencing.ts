import { createHash } from 'node:crypto';
import type { BlobClient } from '@azure/storage-blob';
import { BackendUnavailableError } from '@leasekit/core';
import type { BoundedMap } from './bounded-map.js';
import { BACKEND_NAME } from './errors.js';
import type { BoundedCall } from './request-timeout.js';

/** Metadata the backend writes on a leased blob (Azure metadata names are case-insensitive C# identifiers). */
export const METADATA = {
  /** Last fencing token handed out for this blob: a decimal integer. */
  fence: 'leasekit_fence',
  /** A hash of the current holder's lease ID: recognises a retry of our own acquire. Never the ID itself. */
  holder: 'leasekit_holder',
  /** The holder's `owner` description, URI-encoded (metadata values are ASCII). */
  owner: 'leasekit_owner',
} as const;

const MAX_OWNER_LENGTH = 256;

/** What the backend last wrote on a blob, and the ETag that write produced. */
export interface StampedMetadata {
  readonly etag: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export function holderMark(leaseId: string): string {
  return createHash('sha256').update(leaseId.toLowerCase()).digest('hex').slice(0, 32);
}

export function encodeOwner(owner: string): string {
  return encodeURIComponent(owner.slice(0, MAX_OWNER_LENGTH));
}

export function decodeOwner(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Reads a metadata entry whatever the case of its name (Azure keeps names case-insensitively). */
export function metadataValue(
  metadata: Readonly<Record<string, string>> | undefined,
  name: string,
): string | undefined {
  if (!metadata) return undefined;
  if (metadata[name] !== undefined) return metadata[name];
  for (const [entry, value] of Object.entries(metadata)) if (entry.toLowerCase() === name) return value;
  return undefined;
}

/** The fence stored on a blob: 0 when none was ever written. */
export function storedFence(metadata: Readonly<Record<string, string>> | undefined, key: string): number {
  const raw = metadataValue(metadata, METADATA.fence);
  if (raw === undefined) return 0;
  const fence = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(fence)) {
    throw new BackendUnavailableError(
      `the blob's ${METADATA.fence} metadata is ${JSON.stringify(raw)}, not a fencing token: refusing to hand out a fence`,
      { backend: BACKEND_NAME, operation: 'acquire', key, retryable: false },
    );
  }
  return fence;
}

/** The stored fence for display (`inspect`): `undefined` when there is none, or it is not a number. */
export function fenceOf(metadata: Readonly<Record<string, string>> | undefined): number | undefined {
  const raw = metadataValue(metadata, METADATA.fence);
  return raw !== undefined && /^\d{1,16}$/.test(raw) ? Number(raw) : undefined;
}

/** A copy of `metadata` without leasekit's entries, whatever their case. */
function foreignEntries(metadata: Readonly<Record<string, string>>): Record<string, string> {
  const ours = new Set<string>(Object.values(METADATA));
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) if (!ours.has(name.toLowerCase())) kept[name] = value;
  return kept;
}

export interface StampRequest {
  readonly blob: BlobClient;
  readonly blobName: string;
  readonly key: string;
  readonly leaseId: string;
  readonly owner: string | undefined;
  /** ETag returned by the acquire: when it matches the cache, the stored metadata is known without a read. */
  readonly acquiredEtag: string | undefined;
  readonly cache: BoundedMap<string, StampedMetadata>;
  readonly call: BoundedCall;
}

/**
 * Hands out the next fencing token for a blob we just leased: reads the stored fence (or knows it
 * from the cache when the blob's ETag is the one our own last write produced), and writes fence + 1
 * under the lease and `If-Match` that ETag. Only the lease holder can write a leased blob, and each
 * holder reads after its lease began and writes before it reports the lease acquired, so tokens
 * strictly increase across holders. A retry of the same acquire (same lease ID) gets the same fence.
 * Throws the SDK's error (412 when the lease was lost meanwhile).
 */
export async function stampFence(request: StampRequest): Promise<number> {
  const { blob, blobName, key, leaseId, cache } = request;
  const mark = holderMark(leaseId);
  for (let attempt = 0; ; attempt++) {
    const cached = cache.get(blobName);
    let current: StampedMetadata;
    if (
      cached &&
      attempt === 0 &&
      request.acquiredEtag !== undefined &&
      cached.etag === request.acquiredEtag
    ) {
      current = cached;
    } else {
      const properties = await request.call((abortSignal) =>
        blob.getProperties({ conditions: { leaseId }, abortSignal }),
      );
      current = { etag: properties.etag ?? '', metadata: properties.metadata ?? {} };
    }
    const fence = storedFence(current.metadata, key);
    if (metadataValue(current.metadata, METADATA.holder) === mark) {
      // An earlier try of this very acquire already wrote its fence.
      cache.set(blobName, current);
      return fence;
    }
    const next: Record<string, string> = {
      ...foreignEntries(current.metadata),
      [METADATA.fence]: String(fence + 1),
      [METADATA.holder]: mark,
    };
    if (request.owner !== undefined) next[METADATA.owner] = encodeOwner(request.owner);
    try {
      const conditions = { leaseId, ...(current.etag ? { ifMatch: current.etag } : {}) };
      const written = await request.call((abortSignal) =>
        blob.setMetadata(next, { conditions, abortSignal }),
      );
      cache.set(blobName, { etag: written.etag ?? '', metadata: next });
      return fence + 1;
    } catch (error) {
      cache.delete(blobName);
      const code = (error as { details?: { errorCode?: string } }).details?.errorCode;
      // The ETag moved under us (a stale cache entry, or a write with our lease ID): read again, once.
      if (code === 'ConditionNotMet' && attempt === 0) continue;
      throw error;
    }
  }
}
