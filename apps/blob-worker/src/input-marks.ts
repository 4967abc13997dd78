/**
 * The input blob's marks as one holder sees them: its metadata, read under the holding, and the
 * writes to it, each carrying a condition a stale holder cannot meet: the lease ID when the lease
 * is on the blob itself (Azure work-item mode), else `If-Match` the ETag this holder last read or
 * wrote (a lock in Redis or DynamoDB; the control run). Setting metadata replaces all of it, so a
 * write merges its changes into what this holder last saw (the lease store's fence included).
 */
import type { BlobClient, BlobRequestConditions } from '@azure/storage-blob';
import { classifyError } from '@leasekit/azure-blob';
import type { LeaseError } from '@leasekit/core';
import { merged } from './metadata.js';

type Metadata = Record<string, string>;

export class InputMarks {
  readonly #blob: BlobClient;
  readonly #leaseId: string | undefined;
  #metadata: Metadata;
  #etag: string | undefined;

  private constructor(blob: BlobClient, leaseId: string | undefined, metadata: Metadata, etag?: string) {
    this.#blob = blob;
    this.#leaseId = leaseId;
    this.#metadata = metadata;
    this.#etag = etag;
  }

  /** Reads the marks; with the lease ID, which is the first check that the lease is still ours. */
  static async read(blob: BlobClient, leaseId: string | undefined, signal: AbortSignal): Promise<InputMarks> {
    const properties = await blob
      .getProperties({ abortSignal: signal, ...(leaseId ? { conditions: { leaseId } } : {}) })
      .catch((error: unknown) => {
        throw lostLease(error, blob.name, leaseId, 'read') ?? error;
      });
    return new InputMarks(blob, leaseId, properties.metadata ?? {}, properties.etag);
  }

  /**
   * Azure refused a request that carried this holder's lease ID because the lease is gone (broken,
   * expired, taken): the lease is lost, whether or not the renewal loop has noticed yet. Not a
   * failure of the blob, and not a conflict with another run.
   */
  lostLease(error: unknown, operation: 'read' | 'write'): LeaseError | undefined {
    return lostLease(error, this.#blob.name, this.#leaseId, operation);
  }

  get metadata(): Readonly<Metadata> {
    return this.#metadata;
  }

  /** For the download: the version this holder last saw, and nothing else. */
  get readConditions(): BlobRequestConditions {
    return {
      ...(this.#leaseId ? { leaseId: this.#leaseId } : {}),
      ...(this.#etag ? { ifMatch: this.#etag } : {}),
    };
  }

  /** Applies `changes` (`undefined` removes an entry). A stale holder gets 412. */
  async write(changes: Record<string, string | undefined>, signal: AbortSignal): Promise<void> {
    const metadata = merged(this.#metadata, changes);
    // Never unconditional: a stale holder's count or mark must not land.
    const conditions: BlobRequestConditions | undefined = this.#leaseId
      ? { leaseId: this.#leaseId }
      : this.#etag
        ? { ifMatch: this.#etag }
        : undefined;
    if (conditions === undefined) {
      throw new Error(`no lease ID and no ETag to condition the metadata write of ${this.#blob.name} on`);
    }
    const response = await this.#blob
      .setMetadata(metadata, { abortSignal: signal, conditions })
      .catch((error: unknown) => {
        throw this.lostLease(error, 'write') ?? error;
      });
    this.#metadata = metadata;
    this.#etag = response.etag;
  }
}

function lostLease(
  error: unknown,
  name: string,
  leaseId: string | undefined,
  operation: 'read' | 'write',
): LeaseError | undefined {
  if (leaseId === undefined) return undefined;
  const classified = classifyError(error, operation, name);
  return classified.code === 'NOT_HOLDER' ? classified : undefined;
}
