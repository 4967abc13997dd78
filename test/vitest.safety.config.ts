import { defineProject } from 'vitest/config';

// The fault-injection safety suite (README: Safety): a checker process, client processes that
// acquire through leasekit, faults on real servers. Each file starts the servers it breaks.
// Bounded (CI, `./dev test`): the safety claims at TTLs load cannot disturb (Redis 5 s,
// DynamoDB and the lock service 3 s, Azure 15 s), two scenarios of a file side by side.
// LEASEKIT_SAFETY_LONG=1 (`./dev test:safety --long`): every scenario (short TTLs, liveness, the
// findings of issue 19), twice as long, one at a time but Azure's. Each file builds its test list for the mode: neither run lists the other's as skipped.
const long = process.env.LEASEKIT_SAFETY_LONG === '1';
export default defineProject({
  test: {
    name: 'safety',
    include: ['safety/**/*.test.ts'],
    testTimeout: long ? 300_000 : 120_000,
    hookTimeout: 90_000,
    // Scenarios wait out TTLs (Azure's shortest is 15 s): those of a concurrent group run together.
    maxConcurrency: long ? 8 : 2,
  },
});
