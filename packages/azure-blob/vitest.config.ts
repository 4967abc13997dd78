import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'azure-blob',
    include: ['test/**/*.test.ts'],
    // One Azurite blob service in memory for the whole project (or LEASEKIT_AZURE_BLOB_URL /
    // LEASEKIT_AZURE_STORAGE_CONNECTION_STRING); tests that pause or kill it start their own.
    globalSetup: ['@leasekit/testing/vitest/azurite'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Azure's shortest lease is 15 s: the files that wait out leases run their tests concurrently.
    maxConcurrency: 32,
  },
});
