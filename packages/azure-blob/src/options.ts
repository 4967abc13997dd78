import { ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { type Duration, InvalidArgumentError, toMs } from '@leasekit/core';
import type { KeyLayout } from './blob-names.js';
import { BACKEND_NAME } from './errors.js';

export interface AzureBlobBackendOptions {
  /** A client for the container the leases live in, built by the caller (its pipeline, its credential). */
  readonly containerClient?: ContainerClient;
  /** Instead of `containerClient`: a storage connection string (with `container`). The backend builds the client. */
  readonly connectionString?: string;
  /** The container's name, with `connectionString`. */
  readonly container?: string;
  /** Pipeline options for the client built from `connectionString`. Default: `recommendedRetryOptions`. */
  readonly pipelineOptions?: StoragePipelineOptions;
  /**
   * - `'lock-blobs'` (default): each key gets an empty lock blob, `prefix` + the key encoded into a
   *   valid blob name, created on first use.
   * - `'blob-names'`: the key is the name of an existing blob (the work item itself), which is leased
   *   directly; acquiring a key whose blob does not exist is an error.
   */
  readonly keys?: KeyLayout;
  /** `lock-blobs` only: prepended to every lock blob's name (e.g. `'locks/'`). Default `''`. */
  readonly prefix?: string;
  /**
   * Fencing tokens: after acquiring, read the blob's metadata and write `leasekit_fence` + 1 under
   * the lease (with `leasekit_owner` and a hash of the lease ID), so `lease.fence` strictly increases
   * across holders. Costs one or two more round trips per acquire. Default `false`.
   */
  readonly fencing?: boolean;
  /** `lock-blobs` only: create the container if it does not exist (on first use). Default `true`. */
  readonly createContainer?: boolean;
  /**
   * Longest one SDK call may take, its retries included, before it is abandoned as unavailable
   * (retryable). Default `'5s'`.
   */
  readonly requestTimeout?: Duration;
}

/**
 * Retry options for a client used for leases: a few quick tries, each bounded, instead of the SDK's
 * default (4 tries, 4 s base delay, no per-try timeout), which can outlast a 15 s lease.
 */
export const recommendedRetryOptions: NonNullable<StoragePipelineOptions['retryOptions']> = {
  maxTries: 3,
  tryTimeoutInMs: 4_000,
  retryDelayInMs: 100,
  maxRetryDelayInMs: 1_000,
};

export interface ResolvedOptions {
  readonly containerClient: ContainerClient;
  readonly layout: KeyLayout;
  readonly prefix: string;
  readonly fencing: boolean;
  readonly createContainer: boolean;
  readonly requestTimeoutMs: number;
}

const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;

function invalid(detail: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(detail, { backend: BACKEND_NAME, operation: 'configure', cause });
}

function isContainerClient(value: unknown): value is ContainerClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ContainerClient).getBlobClient === 'function' &&
    typeof (value as ContainerClient).url === 'string'
  );
}

/** Checks and resolves the options before any I/O; throws `InvalidArgumentError` saying what is allowed. */
export function resolveOptions(options: AzureBlobBackendOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw invalid('options must be an object with `containerClient`, or `connectionString` and `container`');
  }
  const hasClient = options.containerClient !== undefined;
  const hasConnection = options.connectionString !== undefined;
  if (hasClient === hasConnection) {
    throw invalid('pass exactly one of `containerClient`, or `connectionString` with `container`');
  }
  const layout = options.keys ?? 'lock-blobs';
  if (layout !== 'lock-blobs' && layout !== 'blob-names') {
    throw invalid(`keys must be 'lock-blobs' or 'blob-names'; got ${JSON.stringify(layout)}`);
  }
  const prefix = options.prefix ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if (typeof prefix !== 'string' || prefix.length > 512 || /[\\\u0000-\u001f\u007f%]/.test(prefix)) {
    throw invalid(
      "prefix must be a string of at most 512 characters without '\\', '%' or control characters",
    );
  }
  if (prefix !== '' && layout === 'blob-names') {
    throw invalid("prefix is for keys: 'lock-blobs'; with 'blob-names' the key is the blob's whole name");
  }
  const fencing = options.fencing ?? false;
  if (typeof fencing !== 'boolean') throw invalid(`fencing must be a boolean; got ${typeof fencing}`);
  const createContainer = options.createContainer ?? layout === 'lock-blobs';
  if (typeof createContainer !== 'boolean') {
    throw invalid(`createContainer must be a boolean; got ${typeof createContainer}`);
  }
  if (createContainer && layout === 'blob-names') {
    throw invalid("createContainer is for keys: 'lock-blobs'; work items live in a container that exists");
  }
  const requestTimeoutMs = toMs(options.requestTimeout ?? '5s', 'requestTimeout', {
    error: { backend: BACKEND_NAME, operation: 'configure' },
  });
  if (requestTimeoutMs <= 0) throw invalid('requestTimeout must be more than 0');

  let containerClient: ContainerClient;
  if (hasClient) {
    if (!isContainerClient(options.containerClient)) {
      throw invalid('containerClient must be a ContainerClient from @azure/storage-blob');
    }
    if (options.container !== undefined || options.pipelineOptions !== undefined) {
      throw invalid('container and pipelineOptions go with connectionString, not with containerClient');
    }
    containerClient = options.containerClient;
  } else {
    if (typeof options.connectionString !== 'string' || options.connectionString.trim() === '') {
      throw invalid('connectionString must be a non-empty string');
    }
    const container = options.container;
    if (typeof container !== 'string' || !(CONTAINER_NAME.test(container) || container === '$root')) {
      throw invalid(
        `container must be a container name (3 to 63 lowercase letters, digits and single hyphens); got ${JSON.stringify(container)}`,
      );
    }
    try {
      containerClient = new ContainerClient(options.connectionString, container, {
        ...options.pipelineOptions,
        retryOptions: options.pipelineOptions?.retryOptions ?? recommendedRetryOptions,
      });
    } catch (error) {
      throw invalid(
        `connectionString could not be used: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    }
  }
  return {
    containerClient,
    layout,
    prefix,
    fencing,
    createContainer,
    requestTimeoutMs,
  };
}
