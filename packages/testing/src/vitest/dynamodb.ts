import { inject } from 'vitest';
import { ENV } from '../env.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Endpoint of the DynamoDB Local started (or named by `LEASEKIT_DYNAMODB_URL`) by the dynamodb global setup. */
    leasekitDynamoDbUrl: string;
  }
}

/**
 * In a test: the endpoint provided by the dynamodb global setup. Throws a clear error when the
 * project did not configure it.
 */
export function dynamoDbUrl(): string {
  const url = inject('leasekitDynamoDbUrl') as string | undefined;
  if (!url) {
    throw new Error(
      `[leasekit] [testing] no DynamoDB Local was provided: add '@leasekit/testing/vitest/dynamodb' (or a file exporting dynamoDbGlobalSetup()) to test.globalSetup, or set ${ENV.dynamodb}`,
    );
  }
  return url;
}
