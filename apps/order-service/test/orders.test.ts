import { createLocker } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedDatabase, startEmbeddedDatabase } from '../src/embedded-database.js';
import { createInventory, type Inventory } from '../src/inventory.js';
import { orderService } from './helpers.js';

let database: EmbeddedDatabase;
let app: FastifyInstance;
let pool: pg.Pool;
let inventory: Inventory;
let itemCount = 0;

beforeAll(async () => {
  database = await startEmbeddedDatabase();
  app = await orderService(database.url);
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  inventory = createInventory(pool);
});
afterAll(async () => {
  await app?.close();
  await pool?.end();
  await database?.stop();
});

/** A fresh item of its own for each test. */
async function item(quantity: number): Promise<string> {
  const name = `it-${++itemCount}-${Math.random().toString(36).slice(2, 8)}`;
  const response = await app.inject({
    method: 'POST',
    url: '/stock',
    payload: { item_name: name, quantity },
  });
  expect(response.statusCode).toBe(200);
  return name;
}

const order = (item_name: string, quantity = 1) =>
  app.inject({ method: 'POST', url: '/order', payload: { item_name, quantity } });

describe('order service', () => {
  it("seeds the seed's items at start", async () => {
    const response = await app.inject('/stock/item1');
    expect(response.json()).toMatchObject({ item_name: 'item1', quantity: 100, last_fence: '0' });
    expect((await app.inject('/stock/item4')).json()).toMatchObject({ quantity: 300 });
  });

  it('places an order under the lock, writing its fence and recording it', async () => {
    const name = await item(5);
    const response = await order(name, 2);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      message: 'Order successfully placed',
      code: 'ORDER_PLACED',
      item_name: name,
      quantity: 2,
      remaining: 3,
      instance: 'test',
    });
    expect(body.fence).toMatch(/^\d+$/);
    expect((await app.inject(`/stock/${name}`)).json()).toMatchObject({
      quantity: 3,
      last_fence: body.fence,
    });
    const recorded = await pool.query(
      'SELECT quantity, fence::text, instance, request_id FROM tb_orders WHERE item_name = $1',
      [name],
    );
    expect(recorded.rows).toEqual([
      { quantity: 2, fence: body.fence, instance: 'test', request_id: expect.any(String) },
    ]);
  });

  it('answers 409 INSUFFICIENT_STOCK with what is available, and sells nothing', async () => {
    const name = await item(1);
    const response = await order(name, 2);
    expect(response.statusCode).toBe(409);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      code: 'INSUFFICIENT_STOCK',
      requested: 2,
      available: 1,
      item_name: name,
    });
    expect((await inventory.getStock(name))?.quantity).toBe(1);
  });

  it('sells exactly the stock to many concurrent orders', async () => {
    const name = await item(10);
    const responses = await Promise.all(Array.from({ length: 40 }, () => order(name)));
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 409)).toHaveLength(30);
    expect((await inventory.getStock(name))?.quantity).toBe(0);
    const sold = await pool.query('SELECT count(*)::int AS n FROM tb_orders WHERE item_name = $1', [name]);
    expect(sold.rows[0].n).toBe(10);
  });

  it('claims the row at read time: a fence not above the last one reads nothing (LEASE_LOST)', async () => {
    const name = await item(10);
    expect(await inventory.claimStock(name, '7')).toEqual({ kind: 'stock', quantity: 10 });
    expect(await inventory.claimStock(name, '7')).toEqual({ kind: 'lease_lost' });
    expect(await inventory.claimStock(name, '6')).toEqual({ kind: 'lease_lost' });
    // Fences are compared as numbers, not strings ('10' < '7' as text).
    expect(await inventory.claimStock(name, '10')).toEqual({ kind: 'stock', quantity: 10 });
    expect(await inventory.claimStock('no-such-item', '11')).toEqual({ kind: 'not_found' });
    expect(await inventory.getStock(name)).toMatchObject({ quantity: 10, lastFence: '10' });
  });

  it('sells a unit once when a stale holder and its successor interleave read and write', async () => {
    const name = await item(10);
    const write = { itemName: name, quantity: 1, instance: 'test', requestId: 'r' };
    // A (fence 5) reads 10 and stalls; its lease runs out; B (fence 6) reads 10.
    const a = await inventory.claimStock(name, '5');
    const b = await inventory.claimStock(name, '6');
    expect([a, b]).toEqual([
      { kind: 'stock', quantity: 10 },
      { kind: 'stock', quantity: 10 },
    ]);
    // A wakes and writes 9: the row is claimed by fence 6 now, so A's write misses.
    expect(await inventory.placeOrder({ ...write, newQuantity: 9, fence: '5' })).toBeUndefined();
    // B writes 9: one unit sold, once.
    expect(await inventory.placeOrder({ ...write, newQuantity: 9, fence: '6' })).toMatch(/^\d+$/);
    expect(await inventory.getStock(name)).toMatchObject({ quantity: 9, lastFence: '6' });
    const sold = await pool.query('SELECT fence::text FROM tb_orders WHERE item_name = $1', [name]);
    expect(sold.rows).toEqual([{ fence: '6' }]);
  });

  it('without fences (LOCKING=off) the same interleaving sells the unit twice', async () => {
    const name = await item(10);
    const write = { itemName: name, quantity: 1, instance: 'test', requestId: 'r', fence: null };
    const a = await inventory.claimStock(name, null);
    const b = await inventory.claimStock(name, null);
    expect([a, b]).toEqual([
      { kind: 'stock', quantity: 10 },
      { kind: 'stock', quantity: 10 },
    ]);
    expect(await inventory.placeOrder({ ...write, newQuantity: 9 })).toMatch(/^\d+$/);
    expect(await inventory.placeOrder({ ...write, newQuantity: 9 })).toMatch(/^\d+$/);
    expect((await inventory.getStock(name))?.quantity).toBe(9);
    const sold = await pool.query('SELECT count(*)::int AS n FROM tb_orders WHERE item_name = $1', [name]);
    expect(sold.rows[0].n).toBe(2);
  });

  it('answers 409 LEASE_LOST when a holder with a larger fence claimed the stock first (the lock ran out)', async () => {
    const name = await item(10);
    // A successor holding fence 2^62 read and wrote: this service's next fence is far below it.
    expect(await inventory.claimStock(name, '4611686018427387904')).toEqual({ kind: 'stock', quantity: 10 });
    expect(
      await inventory.placeOrder({
        itemName: name,
        quantity: 1,
        newQuantity: 9,
        fence: '4611686018427387904',
        instance: 'successor',
        requestId: 'r',
      }),
    ).toBeDefined();
    const response = await order(name);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ code: 'LEASE_LOST', item_name: name });
    expect(await inventory.getStock(name)).toMatchObject({ quantity: 9, lastFence: '4611686018427387904' });
  });

  it('answers 404 ITEM_NOT_FOUND for an unknown item', async () => {
    const response = await order('no-such-item');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'ITEM_NOT_FOUND' });
    expect((await app.inject('/stock/no-such-item')).statusCode).toBe(404);
  });

  it.each([
    ['no body', undefined],
    ['missing quantity', { item_name: 'item1' }],
    ['zero quantity', { item_name: 'item1', quantity: 0 }],
    ['fractional quantity', { item_name: 'item1', quantity: 1.5 }],
    ['a name with a slash', { item_name: 'a/b', quantity: 1 }],
    ['an extra field', { item_name: 'item1', quantity: 1, price: 3 }],
    // The wrong type is refused, not coerced into an order.
    ['a quantity as a string', { item_name: 'item1', quantity: '2' }],
    ['a quantity as a boolean', { item_name: 'item1', quantity: true }],
    ['an item name as a number', { item_name: 12, quantity: 1 }],
    ['an item name as a list', { item_name: ['item1'], quantity: 1 }],
    ['a list of orders', [{ item_name: 'item1', quantity: 1 }]],
  ])('answers 400 problem+json for %s', async (_, payload) => {
    const response = await app.inject({
      method: 'POST',
      url: '/order',
      ...(payload === undefined ? {} : { payload }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      status: 400,
      code: 'INVALID_ARGUMENT',
      detail: expect.any(String),
    });
    expect(response.body).not.toMatch(/ at .*\.js/);
    expect((await inventory.getStock('item1'))?.quantity).toBe(100);
  });

  it('answers 415 for a body that is not JSON and 404 problem+json for an unknown route', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/order',
      payload: '<order/>',
      headers: { 'content-type': 'application/xml' },
    });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect((await app.inject('/nope')).json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('seeds several items at once and validates them', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: '/stock',
      payload: [
        { item_name: 'bulk-a', quantity: 1 },
        { item_name: 'bulk-b', quantity: 2 },
      ],
    });
    expect(ok.statusCode).toBe(200);
    expect((await inventory.getStock('bulk-b'))?.quantity).toBe(2);
    for (const payload of [
      { item_name: 'x', quantity: -1 },
      { item_name: 'x', quantity: '5' },
    ]) {
      const bad = await app.inject({ method: 'POST', url: '/stock', payload });
      expect(bad.statusCode, JSON.stringify(payload)).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await inventory.getStock('x')).toBeUndefined();
  });

  it('serves /healthz and /metrics', async () => {
    expect((await app.inject('/healthz')).json()).toMatchObject({ status: 'ok', locking: 'on' });
    const metrics = await app.inject('/metrics');
    expect(metrics.body).toMatch(/leasekit_orders_total\{result="placed"\} \d+/);
  });
});

describe('order service with LOCKING=off', () => {
  it('takes no lock and writes without a fence (the control run that can oversell)', async () => {
    const unlocked = await orderService(database.url, { LOCKING: 'off', INSTANCE_ID: 'unlocked' });
    try {
      const name = await item(3);
      const response = await unlocked.inject({
        method: 'POST',
        url: '/order',
        payload: { item_name: name, quantity: 1 },
      });
      expect(response.json()).toMatchObject({ code: 'ORDER_PLACED', fence: null, remaining: 2 });
      expect((await unlocked.inject('/healthz')).json()).toMatchObject({ locking: 'off' });
    } finally {
      await unlocked.close();
    }
  });
});

describe('order service when the lock cannot be had', () => {
  it('answers 409 ACQUIRE_TIMEOUT when the item stays locked past LOCK_WAIT, and sells nothing', async () => {
    const locker = createLocker(createMemoryBackend(), { ttl: '10s' });
    const waiting = await orderService(database.url, { LOCK_WAIT: '0', INSTANCE_ID: 'waiting' }, { locker });
    try {
      const name = await item(3);
      const held = await locker.acquire(`inventory:${name}`);
      const response = await waiting.inject({
        method: 'POST',
        url: '/order',
        payload: { item_name: name, quantity: 1 },
      });
      expect(response.statusCode).toBe(409);
      expect(response.json()).toMatchObject({
        code: 'ACQUIRE_TIMEOUT',
        item_name: name,
        instance: 'waiting',
      });
      await held.release();
      expect((await inventory.getStock(name))?.quantity).toBe(3);
    } finally {
      await waiting.close();
    }
  });

  it('answers 503 LOCK_SERVICE_UNAVAILABLE problem+json when the lock service does not answer', async () => {
    const unreachable = await orderService(
      database.url,
      { LOCK_SERVICE_URL: 'http://127.0.0.1:1', INSTANCE_ID: 'cut-off' },
      { lockService: true },
    );
    try {
      const response = await unreachable.inject({
        method: 'POST',
        url: '/order',
        payload: { item_name: 'item2', quantity: 1 },
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json()).toMatchObject({ code: 'LOCK_SERVICE_UNAVAILABLE', instance: 'cut-off' });
      expect((await inventory.getStock('item2'))?.quantity).toBe(200);
    } finally {
      await unreachable.close();
    }
  });
});

describe('order service when the database is gone', () => {
  it('answers 503 DATABASE_UNAVAILABLE problem+json on orders and health, no stack trace', async () => {
    const doomed = await startEmbeddedDatabase();
    const app = await orderService(doomed.url, { INSTANCE_ID: 'orphan' });
    try {
      await doomed.stop();
      const response = await app.inject({
        method: 'POST',
        url: '/order',
        payload: { item_name: 'item1', quantity: 1 },
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE', instance: 'orphan' });
      expect((await app.inject('/healthz')).statusCode).toBe(503);
      const stock = await app.inject('/stock/item1');
      expect(stock.statusCode).toBe(503);
      expect(stock.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    } finally {
      await app.close();
    }
  });
});
