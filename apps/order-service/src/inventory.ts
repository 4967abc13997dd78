/**
 * The order service's database: the seed's `tb_inventory` (plus `last_fence`, the largest
 * fencing token that has claimed each row for an order) and `tb_orders` (one row per accepted order, so a
 * load test's log can be compared with what was really sold).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export interface StockRow {
  readonly itemName: string;
  readonly quantity: number;
  /** Decimal string: the fence of the last fenced write ('0' before any). */
  readonly lastFence: string;
}

export interface OrderWrite {
  readonly itemName: string;
  /** Units sold by this order. */
  readonly quantity: number;
  /** The stock to write: what `claimStock` read minus `quantity`. */
  readonly newQuantity: number;
  /**
   * The lock's fencing token (decimal string), claimed on the row by `claimStock`. With one, the
   * write only applies while the row's `last_fence` is still this fence: a holder with a larger
   * fence that read (claimed) the row since makes it miss, so two holders can never both write
   * what they read. `null`: an unfenced write (no lock, or a backend without fencing).
   */
  readonly fence: string | null;
  readonly instance: string;
  readonly requestId: string;
}

/** The seed's items and quantities. */
export const SEED_ITEMS: ReadonlyArray<{ readonly itemName: string; readonly quantity: number }> = [
  { itemName: 'item1', quantity: 100 },
  { itemName: 'item2', quantity: 200 },
  { itemName: 'item3', quantity: 150 },
  { itemName: 'item4', quantity: 300 },
];

// sql/schema.sql, shipped with the package: the one definition the service and compose share.
const SCHEMA = readFileSync(new URL('../sql/schema.sql', import.meta.url), 'utf8');

/** What `claimStock` found: the stock, no such item, or a larger fence claimed the row first. */
export type StockClaim =
  | { readonly kind: 'stock'; readonly quantity: number }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'lease_lost' };

// The fenced read claims the row for this fence in the same statement: a holder whose lease ran
// out (a smaller fence) can no longer read it, and one that read it before can no longer write.
const CLAIM = `
UPDATE tb_inventory SET last_fence = $2::bigint
WHERE item_name = $1 AND last_fence < $2::bigint
RETURNING quantity`;

// One statement, so the stock write and the order record are atomic on any connection (PGlite's
// socket server multiplexes connections onto one session; a statement is never interleaved).
const FENCED_ORDER = `
WITH updated AS (
  UPDATE tb_inventory SET quantity = $2
  WHERE item_name = $1 AND last_fence = $3::bigint
  RETURNING item_name
)
INSERT INTO tb_orders (item_name, quantity, fence, instance, request_id)
SELECT item_name, $4, $3::bigint, $5, $6 FROM updated
RETURNING id::text`;

const UNFENCED_ORDER = `
WITH updated AS (
  UPDATE tb_inventory SET quantity = $2 WHERE item_name = $1 RETURNING item_name
)
INSERT INTO tb_orders (item_name, quantity, fence, instance, request_id)
SELECT item_name, $3, NULL, $4, $5 FROM updated
RETURNING id::text`;

export interface Inventory {
  /** Creates the tables when absent (safe when several instances start together). */
  migrate(): Promise<void>;
  /** Sets the stock of each item, adding the missing ones; `onlyMissing` leaves existing rows. */
  setStock(
    items: ReadonlyArray<{ readonly itemName: string; readonly quantity: number }>,
    options?: { onlyMissing?: boolean },
  ): Promise<void>;
  getStock(itemName: string): Promise<StockRow | undefined>;
  /**
   * An order's read. With a fence (decimal string) it claims the row: `last_fence` becomes the
   * fence, only while it is below it, and the stock is read in the same statement; a row already
   * claimed by an equal or larger fence answers `lease_lost` (this holder's lock was lost: a
   * successor took the item). `null`: a plain read (no lock, or a backend without fencing).
   */
  claimStock(itemName: string, fence: string | null): Promise<StockClaim>;
  /**
   * Writes the new stock and records the order in one statement. Returns the order's id, or
   * `undefined` when no row was written: the item is gone or, for a fenced write, the row's
   * `last_fence` is no longer this order's fence (a larger fence claimed it since the read: the
   * caller's lock was lost).
   */
  placeOrder(order: OrderWrite): Promise<string | undefined>;
}

export function createInventory(pool: pg.Pool): Inventory {
  return {
    async migrate() {
      // CREATE TABLE IF NOT EXISTS can still collide when two instances run it at once
      // (a unique violation on the catalog): the loser tries again and finds the tables.
      for (let attempt = 1; ; attempt++) {
        try {
          await pool.query(SCHEMA);
          return;
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (attempt >= 5 || (code !== '23505' && code !== '42P07')) throw error;
          await sleep(50 * attempt);
        }
      }
    },

    async setStock(items, options = {}) {
      if (items.length === 0) return;
      const names = items.map((item) => item.itemName);
      const quantities = items.map((item) => item.quantity);
      await pool.query(
        `INSERT INTO tb_inventory (item_name, quantity)
         SELECT * FROM unnest($1::text[], $2::int[])
         ON CONFLICT (item_name) DO ${options.onlyMissing ? 'NOTHING' : 'UPDATE SET quantity = EXCLUDED.quantity'}`,
        [names, quantities],
      );
    },

    async getStock(itemName) {
      const result = await pool.query<{ quantity: number; last_fence: string }>(
        'SELECT quantity, last_fence::text AS last_fence FROM tb_inventory WHERE item_name = $1',
        [itemName],
      );
      const row = result.rows[0];
      return row && { itemName, quantity: row.quantity, lastFence: row.last_fence };
    },

    async claimStock(itemName, fence) {
      if (fence === null) {
        const stock = await this.getStock(itemName);
        return stock === undefined ? { kind: 'not_found' } : { kind: 'stock', quantity: stock.quantity };
      }
      const claimed = await pool.query<{ quantity: number }>(CLAIM, [itemName, fence]);
      const row = claimed.rows[0];
      if (row !== undefined) return { kind: 'stock', quantity: row.quantity };
      const exists = await pool.query('SELECT 1 FROM tb_inventory WHERE item_name = $1', [itemName]);
      return exists.rowCount === 0 ? { kind: 'not_found' } : { kind: 'lease_lost' };
    },

    async placeOrder(order) {
      const result =
        order.fence === null
          ? await pool.query<{ id: string }>(UNFENCED_ORDER, [
              order.itemName,
              order.newQuantity,
              order.quantity,
              order.instance,
              order.requestId,
            ])
          : await pool.query<{ id: string }>(FENCED_ORDER, [
              order.itemName,
              order.newQuantity,
              order.fence,
              order.quantity,
              order.instance,
              order.requestId,
            ]);
      return result.rows[0]?.id;
    },
  };
}
