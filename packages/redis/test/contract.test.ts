import { runLeaseContractTests } from '@leasekit/contract-tests';
import { redisUrls } from '@leasekit/testing/vitest';
import { afterAll } from 'vitest';
import { createRedisBackend, redisKeyNames } from '../src/index.js';
import { adminClients, closeAll } from './helpers.js';

const urls = redisUrls();
const admin = adminClients(urls);
afterAll(() => closeAll(admin));

const capabilities = {
  renew: true,
  fencing: true,
  minTtlMs: 10,
  maxTtlMs: 2 ** 31 - 1,
  inspect: true,
  releasedHint: true,
  handOver: true,
  contention: true,
} as const;

for (const count of [1, 3]) {
  const nodes = urls.slice(0, count);
  runLeaseContractTests({
    name: `redis (${count} node${count === 1 ? '' : 's'})`,
    // A new backend, with its own connections, onto the same servers each time.
    // A generous per-node timeout: CI machines running many suites at once starve servers for tens of ms.
    createBackend: () => createRedisBackend({ nodes, nodeTimeout: 300 }),
    capabilities,
    hooks: {
      // As if the TTL ran out on every node.
      async forceExpire(key) {
        await Promise.all(admin.slice(0, count).map((client) => client.del(redisKeyNames(key).lock)));
      },
    },
  });
}
