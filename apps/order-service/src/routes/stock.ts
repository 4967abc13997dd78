/** `GET /stock/{item}` reads an item's stock; `POST /stock` sets (seeds) one item or several. */
import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../problem.js';
import type { RouteContext } from './context.js';
import { itemParams, type StockItem, stockBody } from './schemas.js';

export async function stockRoutes(app: FastifyInstance, context: RouteContext): Promise<void> {
  const { inventory, config } = context;

  app.get<{ Params: { item: string } }>(
    '/stock/:item',
    { schema: { params: itemParams } },
    async (request, reply) => {
      const stock = await inventory.getStock(request.params.item);
      if (stock === undefined) {
        return sendProblem(reply, 404, 'ITEM_NOT_FOUND', `no item named ${request.params.item}`, {
          item_name: request.params.item,
        });
      }
      return {
        item_name: stock.itemName,
        quantity: stock.quantity,
        last_fence: stock.lastFence,
        instance: config.instance,
      };
    },
  );

  // Setting the stock is an administrative act: it does not take the item's lock, and it keeps
  // `last_fence` (the lock service's fences only grow), so do it while no orders run.
  app.post<{ Body: StockItem | StockItem[] }>('/stock', { schema: { body: stockBody } }, async (request) => {
    const items = Array.isArray(request.body) ? request.body : [request.body];
    await inventory.setStock(items.map((item) => ({ itemName: item.item_name, quantity: item.quantity })));
    return { items };
  });
}
