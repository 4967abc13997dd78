import { defineProject } from 'vitest/config';

// Real HTTP on port 0 and real redis-server nodes (three shared by the project, plus dedicated
// sets started by the tests that stop them).
export default defineProject({
  test: {
    name: 'lock-service',
    include: ['test/**/*.test.ts'],
    globalSetup: ['@leasekit/testing/vitest/redis'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
