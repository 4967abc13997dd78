/** The input container's blobs that still need work, read from the listing's metadata. */
import type { ContainerClient } from '@azure/storage-blob';
import { type BlobState, stateOf } from './metadata.js';

export interface Listing {
  /** Names still pending, in listing order. */
  readonly pending: readonly string[];
  readonly done: number;
  readonly failed: number;
  readonly total: number;
}

export async function listPending(container: ContainerClient, signal?: AbortSignal): Promise<Listing> {
  const pending: string[] = [];
  const counts: Record<BlobState, number> = { pending: 0, done: 0, failed: 0 };
  for await (const item of container.listBlobsFlat({
    includeMetadata: true,
    ...(signal ? { abortSignal: signal } : {}),
  })) {
    const state = stateOf(item.metadata);
    counts[state]++;
    if (state === 'pending') pending.push(item.name);
  }
  return {
    pending,
    done: counts.done,
    failed: counts.failed,
    total: pending.length + counts.done + counts.failed,
  };
}
