export {
  configFromEnv,
  ORDER_SERVICE_ENV,
  ORDER_SERVICE_ENV_SCHEMA,
  type OrderServiceConfig,
} from './config.js';
export {
  type EmbeddedDatabase,
  type EmbeddedDatabaseOptions,
  startEmbeddedDatabase,
} from './embedded-database.js';
export { createInventory, type Inventory, type OrderWrite, SEED_ITEMS, type StockRow } from './inventory.js';
export { type ItemLock, type ItemLocks, lockerItemLocks } from './item-locks.js';
export { lockServiceItemLocks } from './lock-service-locks.js';
export { type BuildServerOptions, buildServer } from './server.js';
