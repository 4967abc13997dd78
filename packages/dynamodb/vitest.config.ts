import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'dynamodb',
    include: ['test/**/*.test.ts'],
    // One DynamoDB Local (a JVM) for the whole project, or LEASEKIT_DYNAMODB_URL.
    globalSetup: ['@leasekit/testing/vitest/dynamodb'],
    testTimeout: 30_000,
    hookTimeout: 90_000,
  },
});
