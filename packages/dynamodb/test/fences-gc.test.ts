import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { isLeaseError, type LeaseError } from '@leasekit/core';
import { describe, expect, it } from 'vitest';
import { ATTR, DEFAULT_PARTITION_KEY } from '../src/index.js';
import { FENCE_CLOCK_SLACK_MS, FENCES_PER_MS } from '../src/schema.js';
import { key, useBackends, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-fences');
const backend = useBackends(table.tableName);

/** What DynamoDB's TTL sweeper does to an idle item: deletes it, fence counter and all. */
const collect = (k: string) =>
  table
    .admin()
    .send(new DeleteItemCommand({ TableName: table.tableName, Key: { [DEFAULT_PARTITION_KEY]: { S: k } } }));

/** Sets the stored fence counter of `k` (a counter that outran the clock, or a creator whose clock ran ahead). */
const setFence = (k: string, fence: number) =>
  table.admin().send(
    new UpdateItemCommand({
      TableName: table.tableName,
      Key: { [DEFAULT_PARTITION_KEY]: { S: k } },
      UpdateExpression: 'SET #fence = :fence',
      ExpressionAttributeNames: { '#fence': ATTR.fence },
      ExpressionAttributeValues: { ':fence': { N: String(fence) } },
    }),
  );

describe('fences across a garbage collection of the item', () => {
  it('stay increasing after sustained hand-overs pushed the counter far ahead, then the idle item was collected', async () => {
    const b = backend();
    const k = key('gc');
    const token = randomUUID();
    const first = await b.tryAcquire({ key: k, token, ttlMs: 5_000 });
    if (first.status !== 'acquired') throw new Error('not acquired');
    // Hot contention in one process: blocks of the largest size (localHandOvers 1024), each used or not.
    let highest = first.fence!;
    for (let i = 0; i < 40; i++) {
      const drawn = await b.handOver!({ key: k, token }, 5_000, 1_024);
      expect(drawn.status).toBe('renewed');
      highest = (drawn as { fence: number }).fence;
    }
    expect(await b.release({ key: k, token })).toBe(true);
    // The item sits idle and TTL collection deletes it (in production no sooner than gcAfter, >= 1 h,
    // after its last write: here, as soon as the wall clock has gone past the fences handed out).
    while (Date.now() * FENCES_PER_MS <= highest) await sleep(5);
    await collect(k);
    const again = await b.tryAcquire({ key: k, token: randomUUID(), ttlMs: 5_000 });
    expect(again.status).toBe('acquired');
    expect((again as { fence: number }).fence).toBeGreaterThan(highest);
  });

  it('a new item starts at the wall clock in ms times FENCES_PER_MS', async () => {
    const before = Date.now();
    const acquired = await backend().tryAcquire({ key: key('seed'), token: randomUUID(), ttlMs: 1_000 });
    const fence = (acquired as { fence: number }).fence;
    expect(fence).toBeGreaterThan(before * FENCES_PER_MS);
    expect(fence).toBeLessThanOrEqual(Date.now() * FENCES_PER_MS + 1);
    expect(Number.isSafeInteger(fence)).toBe(true);
  });

  it('never hands out a fence more than FENCE_CLOCK_SLACK_MS of clock ahead: such an acquire or block is refused', async () => {
    const b = backend();
    const k = key('ahead');
    const token = randomUUID();
    expect((await b.tryAcquire({ key: k, token, ttlMs: 5_000 })).status).toBe('acquired');
    expect(await b.release({ key: k, token })).toBe(true);
    // A counter 16 minutes of clock ahead of this machine (15 is the slack).
    const ahead = (Date.now() + FENCE_CLOCK_SLACK_MS + 60_000) * FENCES_PER_MS;
    await setFence(k, ahead);
    const error = await b.tryAcquire({ key: k, token: randomUUID(), ttlMs: 5_000 }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as LeaseError).retryable).toBe(true);
    expect((error as Error).message).toMatch(/fence counter is ahead of this machine's clock/);
    expect(await b.inspect(k)).toMatchObject({ held: false, fence: ahead });

    // Under the limit: acquired. Then (held) the counter is set a second past the limit: a block
    // of fences is refused and the holding is kept as it was; a plain renewal draws no fence.
    const under = (Date.now() + FENCE_CLOCK_SLACK_MS) * FENCES_PER_MS - 100;
    await setFence(k, under);
    const holder = randomUUID();
    const taken = await b.tryAcquire({ key: k, token: holder, ttlMs: 5_000 });
    expect(taken).toMatchObject({ status: 'acquired', fence: under + 1 });
    const past = (Date.now() + FENCE_CLOCK_SLACK_MS + 1_000) * FENCES_PER_MS;
    await setFence(k, past);
    await expect(b.handOver!({ key: k, token: holder }, 5_000, 1)).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/fence counter is ahead of this machine's clock/),
    });
    expect(await b.inspect(k)).toMatchObject({ held: true, token: holder, fence: past });
    expect(await b.renew({ key: k, token: holder }, 5_000)).toEqual({ status: 'renewed' });
    expect(await b.release({ key: k, token: holder })).toBe(true);
  });
});
