import { createLocker, type Locker } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import { configFromEnv, type OrderServiceConfig } from '../src/config.js';
import { lockerItemLocks } from '../src/item-locks.js';
import { buildServer } from '../src/server.js';

/**
 * An order service over `databaseUrl`. Its item locks are an in-process memory locker (`locker`,
 * or a new one), or with `lockService: true` the lock service at LOCK_SERVICE_URL through the SDK.
 */
export async function orderService(
  databaseUrl: string,
  env: NodeJS.ProcessEnv = {},
  options: { locker?: Locker; lockService?: boolean } = {},
) {
  const config: OrderServiceConfig = configFromEnv({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    INSTANCE_ID: 'test',
    ...env,
  });
  const locker = options.locker ?? createLocker(createMemoryBackend(), { ttl: '2s' });
  const app = buildServer(config, options.lockService ? {} : { locks: lockerItemLocks(locker) });
  await app.ready();
  return app;
}
