import { runLeaseContractTests } from '@leasekit/contract-tests';
import { createMemoryBackend, createMemoryStore } from '../src/index.js';

// Several backends over one store behave like several clients of one server.
const store = createMemoryStore();

runLeaseContractTests({
  name: 'memory',
  createBackend: () => createMemoryBackend({ store }),
  capabilities: {
    renew: true,
    fencing: true,
    inspect: true,
    releasedHint: true,
    handOver: true,
    contention: true,
    minTtlMs: 1,
    maxTtlMs: 2 ** 31 - 1,
  },
  hooks: { forceExpire: (key) => createMemoryBackend({ store }).forceExpire(key) },
  timing: { ttlMs: 300 },
});
