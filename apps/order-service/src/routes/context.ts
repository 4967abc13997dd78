import type { OrderServiceConfig } from '../config.js';
import type { Inventory } from '../inventory.js';
import type { ItemLocks } from '../item-locks.js';
import type { OrderMetrics } from '../metrics.js';

/** What the route plugins share, made by `buildServer` (no module-level state). */
export interface RouteContext {
  readonly config: OrderServiceConfig;
  readonly inventory: Inventory;
  readonly locks: ItemLocks;
  readonly metrics: OrderMetrics;
}
