/**
 * How a worker holds a work item while it processes it: core's `withLease` over one of the
 * leasekit backends (the lease renewed in the background, its signal aborting on loss), or
 * nothing at all for the control run. `hold` answers `'held'` when someone else has the item.
 */
import { ContainerClient } from '@azure/storage-blob';
import { createAzureBlobBackend, recommendedRetryOptions } from '@leasekit/azure-blob';
import { type AnyBackend, createLocker, isLeaseError, type Locker } from '@leasekit/core';
import type { RunConfig } from './config.js';
import type { Holding } from './processor.js';

export interface LeaseProvider {
  /** Shown in manifests and the view: `azure`, `redis`, `dynamodb`, `none`. */
  readonly name: string;
  /** Runs `work` while holding `blobName`, or answers `'held'` at once when another worker holds it. */
  hold<T>(
    blobName: string,
    work: (holding: Holding) => Promise<T>,
    abandon: AbortSignal,
  ): Promise<T | 'held'>;
  close(): Promise<void>;
}

/** The control run: no lease, so nothing stops two workers taking the same blob. */
export function noLease(): LeaseProvider {
  return {
    name: 'none',
    hold: (_blobName, work, abandon) => work({ leaseId: undefined, fence: undefined, signal: abandon }),
    close: async () => {},
  };
}

/** Any leasekit locker: one attempt per blob (`wait: 0`), renewed by core while `work` runs. */
export function lockerLeases(name: string, locker: Locker, leaseIdIsToken: boolean): LeaseProvider {
  return {
    name,
    async hold(blobName, work, abandon) {
      try {
        return await locker.withLease(
          blobName,
          (signal, lease) =>
            work({ leaseId: leaseIdIsToken ? lease.token : undefined, fence: lease.fence, signal }),
          { wait: 0, signal: abandon },
        );
      } catch (error) {
        if (isLeaseError(error, 'ACQUIRE_TIMEOUT')) return 'held';
        throw error;
      }
    },
    close: () => locker.close(),
  };
}

async function backendFor(config: RunConfig): Promise<AnyBackend> {
  switch (config.backend) {
    case 'azure':
      // The work-item mode of the seed: the lease is on the input blob itself, and its ID (the
      // lease's token) is what the worker's writes to that blob carry.
      return createAzureBlobBackend({
        containerClient: new ContainerClient(config.storage.connectionString, config.storage.input, {
          retryOptions: recommendedRetryOptions,
        }),
        keys: 'blob-names',
        fencing: config.fencing,
      });
    case 'redis': {
      const { createRedisBackend } = await import('@leasekit/redis');
      return createRedisBackend({
        nodes: config.redisUrls,
        prefix: `blob-worker:${config.storage.input}:`,
        fencing: config.fencing,
      });
    }
    case 'dynamodb': {
      const { createDynamoDbBackend, createLockTable } = await import('@leasekit/dynamodb');
      const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
      const clientConfig = {
        maxAttempts: 1,
        ...(config.dynamodb.endpoint ? { endpoint: config.dynamodb.endpoint } : {}),
      };
      // Idempotent; the backend then builds (and on close destroys) its own client.
      const setupClient = new DynamoDBClient(clientConfig);
      try {
        await createLockTable({ client: setupClient, tableName: config.dynamodb.table });
      } finally {
        setupClient.destroy();
      }
      return createDynamoDbBackend({ clientConfig, tableName: config.dynamodb.table });
    }
  }
}

export async function createLeaseProvider(config: RunConfig): Promise<LeaseProvider> {
  if (!config.lease) return noLease();
  const backend = await backendFor(config);
  const locker = createLocker(backend, { ttl: config.ttlMs, owner: config.workerId });
  return lockerLeases(config.backend, locker, config.backend === 'azure');
}
