import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createLocker, type LeaseLostError } from '@leasekit/core';
import { describe, expect, it } from 'vitest';
import { ATTR, DEFAULT_PARTITION_KEY, type DynamoDbBackend } from '../src/index.js';
import { key, useBackends, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-takeover');
const backend = useBackends(table.tableName);

const TTL = 800;

/** Polls `tryAcquire` until it succeeds; returns when each attempt was sent and what it got. */
async function pollUntilAcquired(
  contender: DynamoDbBackend,
  k: string,
  token: string,
  ttlMs: number,
  limitMs: number,
) {
  const attempts: { sentAt: number; receivedAt: number; status: string; fence?: number | undefined }[] = [];
  const stopAt = performance.now() + limitMs;
  while (performance.now() < stopAt) {
    const sentAt = performance.now();
    const outcome = await contender.tryAcquire({ key: k, token, ttlMs });
    attempts.push({
      sentAt,
      receivedAt: performance.now(),
      status: outcome.status,
      fence: outcome.status === 'acquired' ? outcome.fence : undefined,
    });
    if (outcome.status === 'acquired') return attempts;
    await sleep(20);
  }
  return attempts;
}

describe('takeover under the record-version rule (clock-skew safe)', () => {
  it('a paused holder is taken over no sooner than one lease duration after its last version change, and its late renew is refused', async () => {
    const [holder, contender] = [backend(), backend()];
    const k = key('paused');
    const holderToken = randomUUID();
    const first = await holder.tryAcquire({ key: k, token: holderToken, ttlMs: TTL });
    expect(first.status).toBe('acquired');
    const contenderToken = randomUUID();
    // The contender starts watching; the holder renews twice meanwhile (each a new version), then pauses.
    const watching = pollUntilAcquired(contender, k, contenderToken, TTL, TTL * 5);
    let lastRenewSentAt = 0;
    for (let i = 0; i < 2; i++) {
      await sleep(TTL / 3);
      lastRenewSentAt = performance.now();
      expect(await holder.renew({ key: k, token: holderToken }, TTL)).toEqual({ status: 'renewed' });
    }
    const attempts = await watching;
    const won = attempts.at(-1)!;
    expect(won.status).toBe('acquired');
    // No sooner than one lease duration after the last version change (its write left at lastRenewSentAt).
    expect(won.sentAt - lastRenewSentAt).toBeGreaterThanOrEqual(TTL);
    // And not much later: the contender polls every ~20 ms (the bound is loose for busy CI machines).
    expect(won.sentAt - lastRenewSentAt).toBeLessThan(TTL * 2);
    // Its fence is above the holder's; the holder's late renew and release are refused.
    expect(won.fence!).toBeGreaterThan((first as { fence: number }).fence);
    expect(await holder.renew({ key: k, token: holderToken }, TTL)).toMatchObject({ status: 'lost' });
    expect(await holder.release({ key: k, token: holderToken })).toBe(false);
    const info = await contender.inspect(k);
    expect(info).toMatchObject({ held: true, token: contenderToken, fence: won.fence });
    expect(await contender.release({ key: k, token: contenderToken })).toBe(true);
  });

  it('a holder that keeps renewing is never taken over, however long the contender watches', async () => {
    const [holderBackend, contender] = [backend(), backend()];
    const locker = createLocker(holderBackend, { ttl: TTL, closeBackend: false });
    const k = key('alive');
    const lease = await locker.acquire(k, { mode: 'lease' });
    const attempts = await pollUntilAcquired(contender, k, randomUUID(), TTL, TTL * 3);
    expect(attempts.every((attempt) => attempt.status === 'held')).toBe(true);
    expect(lease.held).toBe(true);
    await lease.release();
    await locker.close();
  });

  it('after a timeout lock ends, a new client takes over one lease duration after it first looks (the suite expiry scenario)', async () => {
    const holder = createLocker(backend(), { ttl: TTL, closeBackend: false });
    const next = createLocker(backend(), { ttl: TTL, closeBackend: false, retry: { max: '50ms' } });
    const k = key('expiry');
    const lease = await holder.acquire(k, { mode: 'timeout' });
    const aborted = await new Promise<LeaseLostError>((resolve) =>
      lease.signal.addEventListener('abort', () => resolve(lease.signal.reason as LeaseLostError), {
        once: true,
      }),
    );
    expect(aborted.reason).toBe('expired');
    const started = performance.now();
    const successor = await next.acquire(k, { wait: TTL * 2 });
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(TTL);
    expect(waited).toBeLessThan(TTL * 2);
    expect(successor.fence!).toBeGreaterThan(lease.fence!);
    expect(await lease.release()).toBe(false);
    await successor.release();
    await Promise.all([holder.close(), next.close()]);
  });

  it('the same client takes over its own abandoned holding once that holding cannot outlive its write', async () => {
    const shared = backend();
    const k = key('own');
    const sentAt = performance.now();
    const first = await shared.tryAcquire({ key: k, token: randomUUID(), ttlMs: TTL });
    expect(first.status).toBe('acquired');
    // Its own write bounds the holding: once a lease duration has passed since the write was
    // sent, the first attempt takes it over (a client seeing it now would watch a full lease).
    await sleep(TTL);
    const attempts = await pollUntilAcquired(shared, k, randomUUID(), TTL, TTL * 3);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.status).toBe('acquired');
    expect(attempts[0]!.sentAt - sentAt).toBeGreaterThanOrEqual(TTL);
  });

  it('an infinite lease is never taken over; only a release or breakLease frees it', async () => {
    const [holder, contender, admin] = [backend(), backend(), backend()];
    const k = key('infinite');
    const token = randomUUID();
    expect((await holder.tryAcquire({ key: k, token, ttlMs: Infinity })).status).toBe('acquired');
    const attempts = await pollUntilAcquired(contender, k, randomUUID(), TTL, 600);
    expect(attempts.every((attempt) => attempt.status === 'held')).toBe(true);
    expect(await admin.breakLease(k)).toBe(true);
    expect(await admin.breakLease(k)).toBe(false);
    expect((await contender.tryAcquire({ key: k, token: randomUUID(), ttlMs: TTL })).status).toBe('acquired');
    expect(await holder.renew({ key: k, token }, TTL)).toMatchObject({ status: 'lost' });
  });
});

describe("takeover: 'wall-clock' (opt-in)", () => {
  it('takes over as soon as the holder’s leaseUntil is older than maxClockSkew, without watching', async () => {
    const holder = backend();
    const contender = backend({ takeover: 'wall-clock', maxClockSkew: '100ms' });
    const k = key('wall');
    const acquiredAt = Date.now();
    expect((await holder.tryAcquire({ key: k, token: randomUUID(), ttlMs: 300 })).status).toBe('acquired');
    expect((await contender.tryAcquire({ key: k, token: randomUUID(), ttlMs: 300 })).status).toBe('held');
    await sleep(acquiredAt + 300 + 100 + 20 - Date.now());
    expect((await contender.tryAcquire({ key: k, token: randomUUID(), ttlMs: 300 })).status).toBe('acquired');
  });

  it('a holder whose wall clock is an hour behind: the observed rule still waits a full lease, wall-clock takes over at once (its documented risk)', async () => {
    const holder = backend();
    const k = key('skewed');
    const holderToken = randomUUID();
    expect((await holder.tryAcquire({ key: k, token: holderToken, ttlMs: TTL })).status).toBe('acquired');
    // What a holder whose clock runs an hour behind would have written as leaseUntil.
    await table.admin().send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { [DEFAULT_PARTITION_KEY]: { S: k } },
        UpdateExpression: 'SET #until = :until',
        ExpressionAttributeNames: { '#until': ATTR.leaseUntil },
        ExpressionAttributeValues: { ':until': { N: String(Date.now() + TTL - 3_600_000) } },
      }),
    );
    const observed = backend();
    expect((await observed.tryAcquire({ key: k, token: randomUUID(), ttlMs: TTL })).status).toBe('held');
    expect((await observed.tryAcquire({ key: k, token: randomUUID(), ttlMs: TTL })).status).toBe('held');
    const wallClock = backend({ takeover: 'wall-clock', maxClockSkew: '1s' });
    expect((await wallClock.tryAcquire({ key: k, token: randomUUID(), ttlMs: TTL })).status).toBe('acquired');
    // The live holder has lost its lease to a clock it never saw.
    expect(await holder.renew({ key: k, token: holderToken }, TTL)).toMatchObject({ status: 'lost' });
  });
});
