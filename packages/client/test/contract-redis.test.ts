import { runLeaseContractTests } from '@leasekit/contract-tests';
import { redisKeyNames } from '@leasekit/redis';
import { redisCommand } from '@leasekit/testing';
import { redisUrls } from '@leasekit/testing/vitest';
import { afterAll, beforeAll } from 'vitest';
import { createHttpBackend } from '../src/index.js';
import { type RunningService, startService } from './service.js';

// client → lock service → Redlock over the 3 redis-server nodes of the project's global setup.
const urls = redisUrls();
let service: RunningService;
beforeAll(async () => {
  service = await startService({ env: { LEASEKIT_BACKEND: 'redis', LEASEKIT_REDIS_URLS: urls.join(',') } });
});
afterAll(() => service.close());

runLeaseContractTests({
  name: 'http → lock service → redis (3 nodes)',
  // Each backend is made on its own and keeps no state of the holdings: a locker renews or
  // releases by key and token what another acquired (the service names it by Idempotency-Key).
  createBackend: () => createHttpBackend({ baseUrl: service.url }),
  capabilities: {
    renew: true,
    fencing: true,
    inspect: true,
    minTtlMs: 10,
    maxTtlMs: 2 ** 31 - 1,
  },
  // Client, service and store share one process here: on a loaded 2-core machine 200 concurrent
  // acquires (queued in the pool, validity counted from before) took over 1.5 s. A TTL
  // that leaves them validity to spare.
  timing: { ttlMs: 3_000 },
  hooks: {
    // As if the TTL ran out on every node: the service keeps tenant `public`'s keys under
    // `public/`, with its default prefix `leasekit:`.
    async forceExpire(key) {
      const lock = redisKeyNames(`public/${key}`, 'leasekit:').lock;
      await Promise.all(
        urls.map((url) => {
          const { hostname, port } = new URL(url);
          return redisCommand(hostname, Number(port), `DEL ${lock}`);
        }),
      );
    },
  },
});
