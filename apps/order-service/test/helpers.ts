import { createLocker } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import { configFromEnv, type OrderServiceConfig } from '../src/config.js';
import { lockerItemLocks } from '../src/item-locks.js';
import { buildServer } from '../src/server.js';

/** An order service over `databaseUrl` whose item locks are an in-process memory locker. */
export async function orderService(databaseUrl: string, env: NodeJS.ProcessEnv = {}) {
  const config: OrderServiceConfig = configFromEnv({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    INSTANCE_ID: 'test',
    ...env,
  });
  const app = buildServer(config, {
    locks: lockerItemLocks(createLocker(createMemoryBackend(), { ttl: '2s' })),
  });
  await app.ready();
  return app;
}
