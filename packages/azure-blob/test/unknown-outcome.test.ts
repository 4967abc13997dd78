import { randomUUID } from 'node:crypto';
import { createLocker, isLeaseError } from '@leasekit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backendFactory,
  connectionString,
  containerClient,
  TTL_MS,
  uniqueContainer,
  uniqueKey,
} from './helpers.js';
import { type AzureProxy, startAzureProxy } from './proxy.js';

const container = uniqueContainer('unknown');
const backends = backendFactory({ connectionString: connectionString(), container });
let proxy: AzureProxy;

beforeAll(async () => {
  await containerClient(container).createIfNotExists();
  proxy = await startAzureProxy(connectionString());
});
afterAll(async () => {
  await backends.closeAll();
  await proxy.close();
});

describe('an acquire whose every attempt lands but whose answers are lost', () => {
  it('is released by its token afterwards, so an infinite lease does not stay locked', async () => {
    const key = uniqueKey('unknown-final');
    // The lock blob exists already, so every attempt is a lease request that lands.
    const setup = backends.create();
    const warm = randomUUID();
    expect((await setup.tryAcquire({ key, token: warm, ttlMs: TTL_MS })).status).toBe('acquired');
    expect(await setup.release({ key, token: warm })).toBe(true);

    proxy.reset();
    proxy.fault = (seen) => (seen.operation === 'acquire' ? { dropResponse: true } : undefined);
    const locker = createLocker(
      backends.create({ connectionString: proxy.connectionString, requestTimeout: '2s' }),
      { ttl: Infinity, retry: { initial: '20ms', max: '50ms' }, closeBackend: false },
    );
    const error = await locker.acquire(key, { wait: '200ms' }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(proxy.count('acquire')).toBeGreaterThanOrEqual(1);
    await locker.close(); // waits for the release of the last attempt's token
    proxy.reset();

    // Azure had granted the lease (infinite); after the give-back the key is free.
    expect(await setup.inspect(key)).toMatchObject({ held: false });
    const next = randomUUID();
    expect((await setup.tryAcquire({ key, token: next, ttlMs: TTL_MS })).status).toBe('acquired');
    expect(await setup.release({ key, token: next })).toBe(true);
  });
});
