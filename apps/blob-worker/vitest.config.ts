import { defineProject } from 'vitest/config';

// Real Azurite (in memory) and three real redis-server nodes; the workers under test are the
// built bin (dist/main.js) run as child processes, so `build` runs first (`./dev test` does).
export default defineProject({
  test: {
    name: 'blob-worker',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@leasekit/testing/vitest/azurite', '@leasekit/testing/vitest/redis'],
    // A hang guard, not a speed check: runs of several worker processes each (and waits for
    // 15 s leases) share two cores with the rest of the suite.
    testTimeout: 180_000,
    hookTimeout: 30_000,
  },
});
