import type { BlobClient, ContainerClient } from '@azure/storage-blob';
import { ClosedError } from '@leasekit/core';
import { createBlobNamer, type KeyLayout } from './blob-names.js';
import { BoundedMap } from './bounded-map.js';
import { BACKEND_NAME } from './errors.js';
import type { StampedMetadata } from './fencing.js';
import type { ResolvedOptions } from './options.js';
import { type BoundedCall, boundedCalls } from './request-timeout.js';

const CACHE_LIMIT = 10_000;
const BLOB_CLIENT_LIMIT = 1_000;

/** What every operation of one backend shares: its client, options and small caches. */
export interface BackendContext {
  readonly containerClient: ContainerClient;
  readonly layout: KeyLayout;
  readonly fencing: boolean;
  readonly createContainer: boolean;
  /** Runs one SDK call bounded by `requestTimeout`. */
  readonly call: BoundedCall;
  /** The blob name of a key; throws `InvalidArgumentError` for a key that cannot be one. */
  readonly blobName: (key: string, operation: string) => string;
  /** A `BlobClient` for a blob name (recent ones are kept: building one costs a pipeline context). */
  readonly blobClient: (name: string) => BlobClient;
  /** Lease duration (s) last set per lease (`leaseKey`), so a renewal changes it only when it differs. */
  readonly durations: BoundedMap<string, number>;
  /** What our last fence write left on each blob (ETag + metadata): saves the read on the next acquire. */
  readonly stamps: BoundedMap<string, StampedMetadata>;
  /** Creates the container; callers that find it missing meanwhile share one creation. */
  ensureContainer(): Promise<void>;
  /** Throws `ClosedError` once the backend is closed. */
  ensureOpen(operation: string, key?: string): void;
  close(): void;
}

/** The `durations` key of one holding. */
export function leaseKey(key: string, token: string): string {
  return `${key}\u0000${token.toLowerCase()}`;
}

export function createContext(resolved: ResolvedOptions): BackendContext {
  const { containerClient } = resolved;
  const call = boundedCalls(resolved.requestTimeoutMs);
  const toBlobName = createBlobNamer(resolved.layout, resolved.prefix);
  const blobClients = new BoundedMap<string, BlobClient>(BLOB_CLIENT_LIMIT);
  const durations = new BoundedMap<string, number>(CACHE_LIMIT);
  const stamps = new BoundedMap<string, StampedMetadata>(CACHE_LIMIT);
  let containerReady: Promise<void> | undefined;
  let containerCreated = false;
  let closed = false;

  return {
    containerClient,
    layout: resolved.layout,
    fencing: resolved.fencing,
    createContainer: resolved.createContainer,
    call,
    blobName: toBlobName,
    blobClient(name) {
      let client = blobClients.get(name);
      if (!client) {
        client = containerClient.getBlobClient(name);
        blobClients.set(name, client);
      }
      return client;
    },
    durations,
    stamps,
    ensureContainer() {
      // A creation that already finished is not trusted again: the container was deleted since.
      if (!containerReady || containerCreated) {
        containerCreated = false;
        containerReady = call((abortSignal) => containerClient.createIfNotExists({ abortSignal })).then(
          () => {
            containerCreated = true;
          },
          (error: unknown) => {
            containerReady = undefined;
            throw error;
          },
        );
      }
      return containerReady;
    },
    ensureOpen(operation, key) {
      if (closed) throw new ClosedError('the backend is closed', { backend: BACKEND_NAME, operation, key });
    },
    close() {
      closed = true;
      blobClients.clear();
      durations.clear();
      stamps.clear();
    },
  };
}
