/** Item locks from the lock service, through its SDK `@leasekit/client`. */
import type { OrderServiceConfig } from './config.js';
import type { ItemLocks } from './item-locks.js';

export function lockServiceItemLocks(_config: OrderServiceConfig): ItemLocks {
  throw new Error('TODO: @leasekit/client');
}
