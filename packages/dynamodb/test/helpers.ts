import { randomUUID } from 'node:crypto';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DYNAMODB_LOCAL_CREDENTIALS } from '@leasekit/testing';
import { dynamoDbUrl } from '@leasekit/testing/vitest';
import { afterAll, beforeAll } from 'vitest';
import {
  createDynamoDbBackend,
  createLockTable,
  type DynamoDbBackend,
  type DynamoDbBackendOptions,
} from '../src/index.js';

export function clientConfig(): DynamoDBClientConfig {
  return {
    endpoint: dynamoDbUrl(),
    region: 'us-east-1',
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
    maxAttempts: 1,
  };
}

/** A fresh table for one test file, created before its tests and kept (the server is in-memory). */
export function useLockTable(prefix = 'leasekit-test'): {
  readonly tableName: string;
  admin(): DynamoDBClient;
} {
  const tableName = `${prefix}-${randomUUID()}`;
  let admin: DynamoDBClient | undefined;
  beforeAll(async () => {
    admin = new DynamoDBClient(clientConfig());
    await createLockTable({ client: admin, tableName });
  });
  afterAll(() => admin?.destroy());
  return {
    tableName,
    admin: () => {
      if (!admin) throw new Error('the table is not ready yet');
      return admin;
    },
  };
}

/** A backend that owns its client, on `tableName`. */
export function newBackend(tableName: string, extra: Partial<DynamoDbBackendOptions> = {}) {
  return createDynamoDbBackend({ clientConfig: clientConfig(), tableName, ...extra });
}

export const key = (label: string): string => `test:${label}:${randomUUID()}`;

/** A factory of backends onto `tableName`, all closed after the file's tests. */
export function useBackends(tableName: string): (extra?: Partial<DynamoDbBackendOptions>) => DynamoDbBackend {
  const opened: DynamoDbBackend[] = [];
  afterAll(() => Promise.all(opened.map((b) => b.close())));
  return (extra = {}) => {
    const created = newBackend(tableName, extra);
    opened.push(created);
    return created;
  };
}
