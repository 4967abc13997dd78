import { defineProject } from 'vitest/config';

// End to end over real processes: 3 redis-server nodes (or LEASEKIT_REDIS_URLS) for the lock
// service, and this machine's PostgreSQL when it answers (see e2e/seed-demo.test.ts).
export default defineProject({
  test: {
    name: 'e2e',
    include: ['e2e/**/*.test.ts'],
    globalSetup: ['@leasekit/testing/vitest/redis'],
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
