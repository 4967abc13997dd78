import { runLeaseContractTests } from '@leasekit/contract-tests';
import { newBackend, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-contract');

const capabilities = {
  renew: true,
  fencing: true,
  inspect: true,
  releasedHint: false,
  handOver: true,
  minTtlMs: 100,
  maxTtlMs: 2 ** 31 - 1,
} as const;

// The default, clock-skew-safe takeover: a client that has just started watching a key waits
// one full lease duration before taking it over; the suite's expiry test allows for that.
runLeaseContractTests({
  name: 'dynamodb',
  createBackend: () => newBackend(table.tableName),
  capabilities,
  hooks: {
    forceExpire: (key) =>
      admin()
        .breakLease(key)
        .then(() => {}),
  },
  // DynamoDB Local is a JVM on a shared two-core machine: 200 concurrent first writes can take
  // half a second, which a 600 ms TTL does not survive.
  timing: { ttlMs: 1_500 },
});

// The optional wall-clock takeover passes the same expiry test (the rest of the suite does not
// depend on the takeover rule).
runLeaseContractTests({
  name: "dynamodb (takeover: 'wall-clock')",
  createBackend: () => newBackend(table.tableName, { takeover: 'wall-clock', maxClockSkew: '50ms' }),
  capabilities,
  timing: { ttlMs: 1_500 },
  only: ['expiry'],
});

let adminBackend: ReturnType<typeof newBackend> | undefined;
function admin() {
  adminBackend ??= newBackend(table.tableName);
  return adminBackend;
}
