/** Item locks from the lock service, through its SDK `@leasekit/client`. */
import { createLockClient } from '@leasekit/client';
import type { OrderServiceConfig } from './config.js';
import type { ItemLocks } from './item-locks.js';

export function lockServiceItemLocks(config: OrderServiceConfig): ItemLocks {
  const client = createLockClient({
    baseUrl: config.lockServiceUrl,
    ...(config.lockServiceApiKey === undefined ? {} : { apiKey: config.lockServiceApiKey }),
    // Each request may wait on the service for the lock; several orders of one item wait at once.
    connections: 128,
  });
  return {
    async acquire(key, { ttlMs, waitMs, owner }) {
      // The wait is served by the lock service: the request is answered when the key is
      // released, not polled.
      const { lock, release } = await client.acquire(key, { ttl: ttlMs, wait: waitMs, owner });
      return { fence: lock.fence, release };
    },
    close: () => client.close(),
  };
}
