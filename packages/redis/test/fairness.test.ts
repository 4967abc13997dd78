import { redisUrls } from '@leasekit/testing/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend, redisKeyNames } from '../src/index.js';
import { adminClients, closeAll, eventually, uniqueKey } from './helpers.js';

const urls = redisUrls().slice(0, 3);
const admin = adminClients(urls);
const opened: RedisBackend[] = [];
const backend = () => {
  const created = createRedisBackend({ nodes: urls, onWarning: () => {} });
  opened.push(created);
  return created;
};
afterAll(async () => {
  await Promise.all(opened.map((created) => created.close()));
  await closeAll(admin);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Subscribers of each channel, on each node. */
async function subscribers(channels: readonly string[]): Promise<number[][]> {
  return Promise.all(
    admin.map(async (client) => {
      const reply = (await client.call('PUBSUB', 'NUMSUB', ...channels)) as (string | number)[];
      return channels.map((_, i) => Number(reply[2 * i + 1]));
    }),
  );
}

describe('fair across lockers (independent connections, as separate processes have)', () => {
  it('a waiter that starts listening while its subscriber connection is still connecting is subscribed, and hears the release', async () => {
    const holder = backend();
    const listener = backend();
    const keys = Array.from({ length: 30 }, (_, i) => uniqueKey(`subscribe-${i}`));
    const held = await Promise.all(
      keys.map(async (key) => {
        const token = `holder-${key}`;
        expect((await holder.tryAcquire({ key, token, ttlMs: 10_000 })).status).toBe('acquired');
        return { key, token };
      }),
    );
    // The first wait creates the subscriber connection; the next ones come in while it connects.
    const stop = new AbortController();
    const early: Promise<void>[] = [];
    for (const key of keys) {
      early.push(listener.released!(key, stop.signal));
      await sleep(1);
    }
    const channels = keys.map((key) => redisKeyNames(key).channel);
    const counts = await eventually(
      () => subscribers(channels),
      (perNode) => perNode.every((node) => node.every((count) => count >= 1)),
      3_000,
    );
    expect(counts).toEqual(admin.map(() => channels.map(() => 1)));
    // Each key's release wakes a waiter that listens from now on.
    let heard = 0;
    const waits = keys.map((key) =>
      listener.released!(key, stop.signal).then(() => {
        if (!stop.signal.aborted) heard++;
      }),
    );
    await Promise.all(held.map((lease) => holder.release(lease)));
    const bound = setTimeout(() => stop.abort(), 3_000);
    await Promise.all([...waits, ...early]);
    clearTimeout(bound);
    expect(heard).toBe(keys.length);
  });
});
