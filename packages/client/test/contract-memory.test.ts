import { runLeaseContractTests } from '@leasekit/contract-tests';
import { createMemoryBackend, createMemoryStore } from '@leasekit/memory';
import { afterAll, beforeAll } from 'vitest';
import { createHttpBackend } from '../src/index.js';
import { type RunningService, startService } from './service.js';

// client → lock service → memory. The service's store is one the test can reach, to force expiry.
const store = createMemoryStore();
let service: RunningService;
beforeAll(async () => {
  service = await startService({ backend: createMemoryBackend({ store }) });
});
afterAll(() => service.close());

runLeaseContractTests({
  name: 'http → lock service → memory',
  // Each backend is made on its own and keeps no state of the holdings: a locker renews or
  // releases by key and token what another acquired (the service names it by Idempotency-Key).
  createBackend: () => createHttpBackend({ baseUrl: service.url }),
  capabilities: {
    renew: true,
    fencing: true,
    inspect: true,
    minTtlMs: 1,
    maxTtlMs: 2 ** 31 - 1,
  },
  // Client, service and store share one process here: on a loaded 2-core machine 200 concurrent
  // acquires (queued in the pool, validity counted from before) took over 1.5 s. A TTL
  // that leaves them validity to spare.
  timing: { ttlMs: 3_000 },
  // The service keeps tenant `public`'s keys (insecure mode) under `public/`.
  hooks: { forceExpire: (key) => createMemoryBackend({ store }).forceExpire(`public/${key}`) },
});
