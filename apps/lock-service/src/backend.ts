import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createAzureBlobBackend } from '@leasekit/azure-blob';
import type { LeaseBackend } from '@leasekit/core';
import { createDynamoDbBackend, createLockTable } from '@leasekit/dynamodb';
import { createMemoryBackend } from '@leasekit/memory';
import { createRedisBackend } from '@leasekit/redis';
import type { BackendConfig } from './config.js';

/**
 * One factory per `LEASEKIT_BACKEND` value, each through its adapter's own public factory. The
 * backend owns what it creates (connections, clients) and frees it on `close()`.
 */
export async function createBackend(config: BackendConfig): Promise<LeaseBackend> {
  switch (config.kind) {
    case 'memory':
      return createMemoryBackend();
    case 'redis':
      // The backend opens one ioredis client per URL with its lock-safe options, and closes them.
      return createRedisBackend({ nodes: [...config.urls], prefix: config.prefix });
    case 'azure-blob':
      // Fencing on: the service hands out fences, so a protected resource can refuse stale writers.
      return createAzureBlobBackend({
        connectionString: config.connectionString,
        container: config.container,
        fencing: true,
      });
    case 'dynamodb': {
      const clientConfig = {
        region: config.region,
        maxAttempts: 1, // core retries within the lease's validity
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      };
      if (config.createTable) {
        const client = new DynamoDBClient(clientConfig);
        try {
          await createLockTable({ client, tableName: config.table });
        } finally {
          client.destroy();
        }
      }
      return createDynamoDbBackend({ clientConfig, tableName: config.table });
    }
  }
}
