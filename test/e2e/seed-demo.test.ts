/**
 * The seed's demo, end to end over real processes: two order-service instances over the lock
 * service over 3 Redis nodes and PostgreSQL, hammered by the load test. With the lock the
 * invariant holds; without it (LOCKING=off) the same load oversells, so the check can fail.
 * The load test's summary and responses.log are compared with the orders the database recorded.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  binPath,
  createScratchDatabase,
  DEFAULT_POSTGRES_URL,
  postgresReachable,
  type ScratchDatabase,
  type SeedStack,
  startSeedStack,
} from '@leasekit/demo';
import type { LoadtestSummary } from '@leasekit/loadtest';
import { parseRecord } from '@leasekit/loadtest';
import { redisUrls } from '@leasekit/testing/vitest';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const adminUrl = process.env.LEASEKIT_POSTGRES_URL ?? DEFAULT_POSTGRES_URL;
// PostgreSQL is what the issue asks for; without it the same suite runs on the embedded PGlite.
// On CI it must be there: a silent fallback would let CI pass without ever touching PostgreSQL.
const postgres = await postgresReachable(adminUrl);
if (!postgres && process.env.CI) {
  throw new Error(
    `[e2e] CI is set and PostgreSQL does not answer at ${adminUrl}: start it (or set LEASEKIT_POSTGRES_URL); the embedded PGlite fallback is for local runs only`,
  );
}
if (!postgres)
  console.warn(`[e2e] PostgreSQL does not answer at ${adminUrl}: falling back to the embedded PGlite`);

// Little stock, many orders: 3 items, 75 units, 2,400 orders of 1 unit, 40 at a time.
const STOCK = { 'e2e-a': 40, 'e2e-b': 25, 'e2e-c': 10 } as const;
const ITEMS = Object.keys(STOCK);
const TOTAL_STOCK = Object.values(STOCK).reduce((a, b) => a + b, 0);
const LOAD = [
  '--batches',
  '60',
  '--concurrency',
  '40',
  '--pause',
  '0',
  '--items',
  ITEMS.join(','),
  '--progress',
  'none',
];

interface Run {
  readonly stack: SeedStack;
  readonly summary: LoadtestSummary;
  readonly exitCode: number;
  readonly log: Array<Record<string, string>>;
  readonly orders: Array<{
    item_name: string;
    quantity: number;
    fence: string | null;
    instance: string;
    request_id: string;
  }>;
  readonly stock: Record<string, number>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

async function run(locking: boolean): Promise<Run> {
  let scratch: ScratchDatabase | undefined;
  if (postgres) {
    scratch = await createScratchDatabase(adminUrl, 'leasekit_e2e');
    cleanups.push(() => scratch!.drop());
  }
  const stack = await startSeedStack({
    backend: 'redis',
    redisUrls: redisUrls(),
    locking,
    ...(scratch ? { databaseUrl: scratch.url } : {}),
    orderServiceEnv: { SEED_ITEMS: 'off', LOCK_TTL: '5s', LOCK_WAIT: '20s' },
  });
  cleanups.push(() => stack.stop());
  const seeded = await fetch(`${stack.orderServices[0]!.url}/stock`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Object.entries(STOCK).map(([item_name, quantity]) => ({ item_name, quantity }))),
  });
  expect(seeded.status).toBe(200);

  const dir = await mkdtemp(join(tmpdir(), 'leasekit-e2e-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const logPath = join(dir, 'responses.log');
  const urls = stack.orderServices.map((service) => service.url).join(',');
  const { exitCode, stdout } = await new Promise<{ exitCode: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        binPath('@leasekit/loadtest', 'leasekit-loadtest'),
        '--url',
        urls,
        '--log',
        logPath,
        '--json',
        ...LOAD,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, out) => resolve({ exitCode: error ? Number(error.code ?? 3) : 0, stdout: out }),
    );
  });
  const summary = JSON.parse(stdout) as LoadtestSummary;
  const log = (await readFile(logPath, 'utf8')).trim().split('\n').map(parseRecord);

  const client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
  try {
    const orders = await client.query(
      'SELECT item_name, quantity, fence::text AS fence, instance, request_id FROM tb_orders ORDER BY id',
    );
    const stock = await client.query('SELECT item_name, quantity FROM tb_inventory');
    return {
      stack,
      summary,
      exitCode,
      log,
      orders: orders.rows,
      stock: Object.fromEntries(stock.rows.map((row) => [row.item_name, row.quantity])),
    };
  } finally {
    await client.end();
  }
}

/**
 * The load test's account against the database's: the orders answered 200 in responses.log are
 * exactly the rows of tb_orders (by request id, item and answering instance), and the summary's
 * units sold and final stock per item are what the database holds.
 */
function expectLogAndSummaryMatchDatabase({ log, orders, summary, stock }: Run): void {
  expect(log).toHaveLength(summary.requests);
  const placed = log.filter((line) => line.status === '200');
  expect(placed).toHaveLength(summary.successful);
  expect(placed.every((line) => line.code === 'ORDER_PLACED')).toBe(true);
  expect(orders).toHaveLength(summary.successful);
  const recorded = new Map(orders.map((order) => [order.request_id, order]));
  for (const line of placed) {
    expect(recorded.get(line.request_id!), line.request_id).toMatchObject({
      item_name: line.item,
      quantity: Number(line.quantity),
      instance: line.instance,
    });
  }
  for (const item of summary.invariant!.items) {
    const sold = orders
      .filter((order) => order.item_name === item.item)
      .reduce((sum, order) => sum + order.quantity, 0);
    expect(item.sold, item.item).toBe(sold);
    expect(item.final, item.item).toBe(stock[item.item]);
  }
}

describe(`the seed's demo over Redis x3 and ${postgres ? 'PostgreSQL' : 'PGlite (PostgreSQL unreachable)'}`, () => {
  let locked: Run;
  let unlocked: Run;
  beforeAll(async () => {
    locked = await run(true);
    await locked.stack.stop();
    unlocked = await run(false);
    await unlocked.stack.stop();
  }, 150_000);

  it('with the lock: every unit sold once, the rest refused for lack of stock, the invariant held', () => {
    const { summary } = locked;
    expect(locked.exitCode).toBe(0);
    expect(summary.requests).toBe(2_400);
    expect(summary.invariant?.held).toBe(true);
    expect(summary.successful).toBe(TOTAL_STOCK);
    expect(summary.statuses).toEqual({ '200': TOTAL_STOCK, '409': 2_400 - TOTAL_STOCK });
    expect(summary.codes).toEqual({ ORDER_PLACED: TOTAL_STOCK, INSUFFICIENT_STOCK: 2_400 - TOTAL_STOCK });
    expect(summary.instances).toEqual({ 'order-a': 1_200, 'order-b': 1_200 });
    for (const item of summary.invariant!.items) {
      expect(item).toMatchObject({
        initial: STOCK[item.item as keyof typeof STOCK],
        final: 0,
        held: true,
        uncertain: 0,
      });
    }
    expect(locked.stock).toEqual({ 'e2e-a': 0, 'e2e-b': 0, 'e2e-c': 0 });
  });

  it('with the lock: responses.log and tb_orders name the same orders, and fences rise in commit order', () => {
    const { orders } = locked;
    expectLogAndSummaryMatchDatabase(locked);
    expect(orders).toHaveLength(TOTAL_STOCK);
    for (const item of ITEMS) {
      const fences = orders.filter((order) => order.item_name === item).map((order) => BigInt(order.fence!));
      expect(fences).toHaveLength(STOCK[item as keyof typeof STOCK]);
      expect(fences.every((fence, i) => i === 0 || fence > fences[i - 1]!)).toBe(true);
    }
  });

  it('without the lock: the same load oversells and the check says so', () => {
    const { summary, orders } = unlocked;
    expect(unlocked.exitCode).toBe(1);
    expect(summary.invariant?.held).toBe(false);
    expect(summary.successful).toBeGreaterThan(TOTAL_STOCK);
    // The database recorded every order the load test was told was placed: the oversell is real.
    expectLogAndSummaryMatchDatabase(unlocked);
    expect(orders.every((order) => order.fence === null)).toBe(true);
    const violated = summary.invariant!.items.filter((item) => !item.held);
    expect(violated.length).toBeGreaterThan(0);
    expect(violated[0]!.violation).toMatch(/oversold/);
  });
});
