/** The order service's Prometheus metrics, in a registry of the server's own. */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface OrderMetrics {
  readonly registry: Registry;
  /** Orders by result: placed, insufficient_stock, lease_lost, acquire_timeout, not_found, error. */
  readonly orders: Counter<'result'>;
  readonly orderSeconds: Histogram<'result'>;
  readonly lockWaitSeconds: Histogram;
  /** Releases that found the lock already gone (it expired or was taken while the order ran). */
  readonly lostAtRelease: Counter;
}

export function createOrderMetrics(): OrderMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    registry,
    orders: new Counter({
      name: 'leasekit_orders_total',
      help: 'Orders answered, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    orderSeconds: new Histogram({
      name: 'leasekit_order_duration_seconds',
      help: 'Time to answer an order, by result',
      labelNames: ['result'],
      buckets,
      registers: [registry],
    }),
    lockWaitSeconds: new Histogram({
      name: 'leasekit_order_lock_wait_seconds',
      help: "Time to get the item's lock",
      buckets,
      registers: [registry],
    }),
    lostAtRelease: new Counter({
      name: 'leasekit_order_lock_lost_at_release_total',
      help: 'Releases that found the lock already gone',
      registers: [registry],
    }),
  };
}
