import { afterEach, describe, expect, it } from 'vitest';
import { findBinary, redisPing } from '../src/index.js';
import { redisGlobalSetup } from '../src/vitest/setup.js';

const hasRedis = findBinary(process.env.LEASEKIT_REDIS_SERVER ?? 'redis-server') !== undefined;
const saved = process.env.LEASEKIT_REDIS_URLS;

afterEach(() => {
  if (saved === undefined) delete process.env.LEASEKIT_REDIS_URLS;
  else process.env.LEASEKIT_REDIS_URLS = saved;
});

describe('redisGlobalSetup', () => {
  it.skipIf(!hasRedis)('starts the servers, provides their URLs, and its teardown stops them', async () => {
    delete process.env.LEASEKIT_REDIS_URLS;
    const provided = new Map<string, string[]>();
    const teardown = await redisGlobalSetup({ count: 2 })({
      provide: (key, value) => provided.set(key, value),
    });
    const urls = provided.get('leasekitRedisUrls') ?? [];
    expect(urls).toHaveLength(2);
    const ports = urls.map((url) => Number(new URL(url).port));
    for (const port of ports) expect(await redisPing('127.0.0.1', port)).toBe(true);
    await teardown();
    for (const port of ports) await expect(redisPing('127.0.0.1', port, 200)).rejects.toThrow();
  });

  it('provides the servers named by LEASEKIT_REDIS_URLS instead of starting any', async () => {
    process.env.LEASEKIT_REDIS_URLS = 'redis://redis-1:6379,redis://redis-2:6379';
    const provided = new Map<string, string[]>();
    const teardown = await redisGlobalSetup({ count: 3, command: 'leasekit-no-such-redis-server' })({
      provide: (key, value) => provided.set(key, value),
    });
    expect(provided.get('leasekitRedisUrls')).toEqual(['redis://redis-1:6379', 'redis://redis-2:6379']);
    await teardown();
  });
});
