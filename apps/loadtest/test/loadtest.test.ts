/** The load test against a real order service (in process, over an embedded PGlite and a memory locker). */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocker } from '@leasekit/core';
import { createMemoryBackend } from '@leasekit/memory';
import {
  buildServer,
  configFromEnv,
  type EmbeddedDatabase,
  lockerItemLocks,
  startEmbeddedDatabase,
} from '@leasekit/order-service';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatSummary, runLoadtest } from '../src/loadtest.js';
import { type LoadtestOptions, parseOptions } from '../src/options.js';
import { parseRecord } from '../src/run.js';

let database: EmbeddedDatabase;
let apps: Array<ReturnType<typeof buildServer>> = [];
let urls: string[] = [];
let dir: string;

beforeAll(async () => {
  database = await startEmbeddedDatabase();
  dir = await mkdtemp(join(tmpdir(), 'leasekit-loadtest-'));
  // Two instances sharing one database and one lock store, as two processes would.
  const locker = createLocker(createMemoryBackend(), { ttl: '5s' });
  apps = ['a', 'b'].map((instance) =>
    buildServer(
      configFromEnv({ DATABASE_URL: database.url, PORT: '0', LOG_LEVEL: 'silent', INSTANCE_ID: instance }),
      {
        locks: { ...lockerItemLocks(locker), close: async () => {} },
      },
    ),
  );
  urls = [];
  for (const app of apps) urls.push(await app.listen({ host: '127.0.0.1', port: 0 }));
  await fetch(`${urls[0]}/stock`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      { item_name: 'lt-a', quantity: 7 },
      { item_name: 'lt-b', quantity: 3 },
    ]),
  });
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await database?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const options = (extra: string[]): LoadtestOptions =>
  parseOptions(['--url', urls.join(','), '--progress', 'none', '--pause', '0', ...extra]) as LoadtestOptions;

it('sends concurrent batches round robin, counts, times and logs every answer, and checks the stock', async () => {
  const log = join(dir, 'responses.log');
  const summary = await runLoadtest(
    options(['--batches', '4', '--concurrency', '10', '--items', 'lt-a,lt-b', '--log', log]),
  );
  expect(summary).toMatchObject({ requests: 40, successful: 10, failed: 30, batches: 4 });
  expect(summary.statuses).toEqual({ '200': 10, '409': 30 });
  expect(summary.codes).toEqual({ ORDER_PLACED: 10, INSUFFICIENT_STOCK: 30 });
  expect(summary.instances).toEqual({ a: 20, b: 20 });
  expect(summary.latency.count).toBe(40);
  expect(summary.latency.p50Ms).toBeLessThanOrEqual(summary.latency.p99Ms);
  expect(summary.latency.p99Ms).toBeLessThanOrEqual(summary.latency.maxMs);
  expect(summary.invariant?.held).toBe(true);
  expect(summary.invariant?.items).toEqual([
    expect.objectContaining({ item: 'lt-a', initial: 7, sold: 7, final: 0, held: true }),
    expect.objectContaining({ item: 'lt-b', initial: 3, sold: 3, final: 0, held: true }),
  ]);
  const lines = (await readFile(log, 'utf8')).trim().split('\n').map(parseRecord);
  expect(lines).toHaveLength(40);
  expect(lines[0]).toMatchObject({
    status: expect.stringMatching(/^(200|409)$/),
    instance: expect.stringMatching(/^[ab]$/),
  });
  expect(Number.isNaN(Date.parse(lines[0]!.time))).toBe(false);
  expect(new Set(lines.map((line) => line.request_id)).size).toBe(40);
  // Round robin over targets and items alike: each item is ordered through both instances.
  for (const item of ['lt-a', 'lt-b']) {
    const through = lines.filter((line) => line.item === item).map((line) => line.instance);
    expect(
      through.filter((instance) => instance === 'a'),
      item,
    ).toHaveLength(10);
    expect(
      through.filter((instance) => instance === 'b'),
      item,
    ).toHaveLength(10);
  }
  const text = formatSummary(summary);
  expect(text).toMatch(/latency ms: +p50 [\d.]+, p95 [\d.]+, p99 [\d.]+, max [\d.]+/);
  expect(text).toMatch(/INVARIANT HELD/);
});

it('counts a target that does not answer as an uncertain failure, not a sale', async () => {
  const summary = await runLoadtest({
    ...options(['--batches', '1', '--concurrency', '2', '--items', 'lt-a', '--log', '-', '--no-check']),
    urls: ['http://127.0.0.1:1'],
  });
  expect(summary).toMatchObject({
    requests: 2,
    successful: 0,
    failed: 2,
    statuses: { '0': 2 },
    invariant: undefined,
  });
  expect(Object.keys(summary.codes)).toEqual(['ECONNREFUSED']);
});

it('stops with a clear error when an item does not exist', async () => {
  await expect(runLoadtest(options(['--items', 'no-such-item', '--log', '-']))).rejects.toThrow(
    /GET .*\/stock\/no-such-item answered 404 \(seed the item with POST \/stock\)/,
  );
});
