import { defineProject } from 'vitest/config';

// The fault-injection safety suite (safety/README.md): a checker process, client processes that
// acquire through leasekit, faults on real servers. Each file starts the servers it breaks.
// LEASEKIT_SAFETY_LONG=1 (./dev test:safety --long) runs every scenario five times longer.
const long = process.env.LEASEKIT_SAFETY_LONG === '1';
export default defineProject({
  test: {
    name: 'safety',
    include: ['safety/**/*.test.ts'],
    testTimeout: long ? 600_000 : 120_000,
    hookTimeout: 90_000,
    // Scenarios wait out TTLs (Azure's shortest is 15 s): those of one file run concurrently.
    maxConcurrency: 16,
  },
});
