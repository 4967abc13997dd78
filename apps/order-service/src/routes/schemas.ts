/** JSON schemas of the order service's bodies and parameters. */

type JsonSchema = Readonly<Record<string, unknown>>;

/** Item names double as lock keys, so they use the lock service's key alphabet (no ':'). */
export const ITEM_NAME: JsonSchema = { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,100}$' };
export const QUANTITY: JsonSchema = { type: 'integer', minimum: 1, maximum: 1_000_000 };
export const STOCK: JsonSchema = { type: 'integer', minimum: 0, maximum: 1_000_000_000 };

export const orderBody: JsonSchema = {
  type: 'object',
  required: ['item_name', 'quantity'],
  additionalProperties: false,
  properties: { item_name: ITEM_NAME, quantity: QUANTITY },
};

const stockItem: JsonSchema = {
  type: 'object',
  required: ['item_name', 'quantity'],
  additionalProperties: false,
  properties: { item_name: ITEM_NAME, quantity: STOCK },
};

/** One item, or a list of them. */
export const stockBody: JsonSchema = {
  anyOf: [stockItem, { type: 'array', minItems: 1, maxItems: 1_000, items: stockItem }],
};

export const itemParams: JsonSchema = {
  type: 'object',
  required: ['item'],
  properties: { item: ITEM_NAME },
};

export interface OrderBody {
  item_name: string;
  quantity: number;
}
export interface StockItem {
  item_name: string;
  quantity: number;
}
