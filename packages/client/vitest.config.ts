import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'client',
    include: ['test/**/*.test.ts'],
    // Three redis-server processes for the client → service → Redis suite (or LEASEKIT_REDIS_URLS).
    globalSetup: ['@leasekit/testing/vitest/redis'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
