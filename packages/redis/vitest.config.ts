import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'redis',
    include: ['test/**/*.test.ts'],
    // Three redis-server processes for the whole project (or LEASEKIT_REDIS_URLS); fault tests start their own.
    globalSetup: ['@leasekit/testing/vitest/redis'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
