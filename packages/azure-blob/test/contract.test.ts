import { runLeaseContractTests } from '@leasekit/contract-tests';
import { afterAll } from 'vitest';
import { createAzureBlobBackend } from '../src/index.js';
import { backendFactory, capabilities, connectionString, TTL_MS, uniqueContainer } from './helpers.js';

// The quick groups, in order, for both configurations. The groups that wait out 15 s leases
// (expiry, renewal) run concurrently in long.test.ts.
const container = uniqueContainer('contract');
const admin = backendFactory({ connectionString: connectionString(), container });
afterAll(() => admin.closeAll());
const forceExpire = async (key: string) => {
  await admin.create().breakLease(key, 0);
};

for (const fencing of [true, false]) {
  runLeaseContractTests({
    name: `azure-blob (lock blobs${fencing ? ', fencing' : ''})`,
    // A new backend with its own client onto the same container on every call.
    createBackend: () => createAzureBlobBackend({ connectionString: connectionString(), container, fencing }),
    capabilities: capabilities(fencing),
    hooks: { forceExpire },
    timing: { ttlMs: TTL_MS },
    only: ['basics', 'contention', 'waiting', 'ownership', 'fencing', 'handOver', 'badInput', 'lifecycle'],
  });
}
