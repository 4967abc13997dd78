import { inject } from 'vitest';
import { ENV } from '../env.js';

export {
  type GlobalSetup,
  type ProvideContext,
  type RedisGlobalSetupOptions,
  redisGlobalSetup,
} from './setup.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Addresses of the Redis servers started (or named by `LEASEKIT_REDIS_URLS`) by the redis global setup. */
    leasekitRedisUrls: string[];
  }
}

/**
 * In a test: the URLs provided by the redis global setup. Throws a clear error when the project
 * did not configure it.
 */
export function redisUrls(): string[] {
  const urls = inject('leasekitRedisUrls') as string[] | undefined;
  if (!urls || urls.length === 0) {
    throw new Error(
      `[leasekit] [testing] no Redis servers were provided: add '@leasekit/testing/vitest/redis' (or a file exporting redisGlobalSetup()) to test.globalSetup, or set ${ENV.redis}`,
    );
  }
  return urls;
}
export { azureBlobConnectionString } from './azurite.js';
export { dynamoDbUrl } from './dynamodb.js';
export {
  type DynamoDbGlobalSetup,
  type DynamoDbProvideContext,
  dynamoDbGlobalSetup,
} from './dynamodb-global.js';
