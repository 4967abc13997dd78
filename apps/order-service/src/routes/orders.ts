/**
 * `POST /order`: the seed's order, made safe. Under the item's lock it reads the stock while
 * claiming the row for the lock's fence, and writes only while the row is still claimed by that
 * fence, so that even a holder whose lock ran out while it worked cannot sell what its successor
 * also read (the successor's read claims a larger fence: the stale write finds 0 rows).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ItemLock } from '../item-locks.js';
import { sendProblem } from '../problem.js';
import type { RouteContext } from './context.js';
import { type OrderBody, orderBody } from './schemas.js';

type Result = 'placed' | 'insufficient_stock' | 'lease_lost' | 'acquire_timeout' | 'not_found' | 'error';

export async function orderRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  const { config, inventory, locks, metrics } = context;
  const instance = config.instance;

  app.post<{ Body: OrderBody }>('/order', { schema: { body: orderBody } }, async (request, reply) => {
    const started = performance.now();
    const { item_name: itemName, quantity } = request.body;
    const done = (result: Result, send: () => FastifyReply): FastifyReply => {
      metrics.orders.inc({ result });
      metrics.orderSeconds.observe({ result }, (performance.now() - started) / 1000);
      return send();
    };

    let lock: ItemLock | undefined;
    if (config.locking) {
      try {
        lock = await locks.acquire(`${config.lockKeyPrefix}${itemName}`, {
          ttlMs: config.lockTtlMs,
          waitMs: config.lockWaitMs,
          owner: instance,
        });
        metrics.lockWaitSeconds.observe((performance.now() - started) / 1000);
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ACQUIRE_TIMEOUT') {
          return done('acquire_timeout', () =>
            sendProblem(
              reply,
              409,
              'ACQUIRE_TIMEOUT',
              `the lock of ${itemName} was still held after ${config.lockWaitMs} ms`,
              {
                item_name: itemName,
                instance,
              },
            ),
          );
        }
        request.log.error({ err: error }, 'lock service failed');
        return done('error', () =>
          sendProblem(
            reply.header('retry-after', '1'),
            503,
            'LOCK_SERVICE_UNAVAILABLE',
            'the lock service could not be reached or failed',
            {
              instance,
            },
          ),
        );
      }
    }

    try {
      const fence = lock?.fence ?? null;
      const lost = (when: string) =>
        done('lease_lost', () =>
          sendProblem(
            reply,
            409,
            'LEASE_LOST',
            `the lock of ${itemName} was lost ${when} (a holder with a larger fence than ${fence} claimed the stock); nothing was sold`,
            { item_name: itemName, fence, instance },
          ),
        );
      // The read claims the row for this order's fence: see `Inventory.claimStock`.
      const stock = await inventory.claimStock(itemName, fence);
      if (stock.kind === 'not_found') {
        return done('not_found', () =>
          sendProblem(reply, 404, 'ITEM_NOT_FOUND', `no item named ${itemName}; add it with POST /stock`, {
            item_name: itemName,
            instance,
          }),
        );
      }
      if (stock.kind === 'lease_lost') return lost('before the read');
      if (stock.quantity < quantity) {
        return done('insufficient_stock', () =>
          sendProblem(reply, 409, 'INSUFFICIENT_STOCK', 'Insufficient quantity available', {
            item_name: itemName,
            requested: quantity,
            available: stock.quantity,
            instance,
          }),
        );
      }
      const orderId = await inventory.placeOrder({
        itemName,
        quantity,
        newQuantity: stock.quantity - quantity,
        fence,
        instance,
        requestId: request.id,
      });
      // Only a fenced write can miss: a holder with a larger fence claimed the row since this
      // order's read, so this order's lock had run out. Nothing was written or sold.
      if (orderId === undefined) return lost('between the read and the write');
      return done('placed', () =>
        reply.send({
          message: 'Order successfully placed',
          code: 'ORDER_PLACED',
          order_id: orderId,
          item_name: itemName,
          quantity,
          remaining: stock.quantity - quantity,
          fence,
          instance,
        }),
      );
    } catch (error) {
      request.log.error({ err: error }, 'database failed');
      return done('error', () =>
        sendProblem(
          reply.header('retry-after', '1'),
          503,
          'DATABASE_UNAVAILABLE',
          'the database could not be reached or failed',
          {
            instance,
          },
        ),
      );
    } finally {
      if (lock) {
        // The order's answer does not depend on the release: a lock that is already gone frees
        // itself, and the fenced write already settled whether this order sold anything.
        await lock.release().then(
          (released) => released || metrics.lostAtRelease.inc(),
          (error: unknown) => request.log.warn({ err: error }, 'release failed; the lock expires by its TTL'),
        );
      }
    }
  });
}
