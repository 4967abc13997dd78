import { defineProject } from 'vitest/config';

// Unit tests of the harness only: the benchmarks themselves never run under `vitest`.
export default defineProject({
  test: {
    name: 'bench',
    include: ['test/**/*.test.ts'],
  },
});
