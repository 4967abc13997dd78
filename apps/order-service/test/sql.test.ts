import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { SEED_ITEMS } from '../src/inventory.js';

it('sql/seed.sql (mounted by docker-compose.yml) inserts the same items as SEED_ITEMS=on', () => {
  const sql = readFileSync(new URL('../sql/seed.sql', import.meta.url), 'utf8');
  const rows = [...sql.matchAll(/\('([^']+)', (\d+)\)/g)].map((m) => ({
    itemName: m[1],
    quantity: Number(m[2]),
  }));
  expect(rows).toEqual(SEED_ITEMS);
});
