import { defineConfig } from 'vitest/config';

// One run over every workspace project, bounded to the machine's two cores. Each project keeps
// its own vitest.config.ts (name, globalSetup for the servers it needs, timeouts).
export default defineConfig({
  test: {
    projects: [
      'packages/*/vitest.config.ts',
      'packages/redis/vitest.ioredis6.config.ts',
      'apps/*/vitest.config.ts',
      '{bench,test}/vitest.config.ts',
      'test/vitest.safety.config.ts',
    ],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: process.env.LEASEKIT_TEST_REPORT
      ? ['default', ['json', { outputFile: process.env.LEASEKIT_TEST_REPORT }]]
      : ['default'],
  },
});
