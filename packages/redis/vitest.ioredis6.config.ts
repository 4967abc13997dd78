import { defineProject, mergeConfig } from 'vitest/config';
import redis from './vitest.config.js';

// The same suites on ioredis 6 (the peer range admits both majors): every `ioredis` import, in
// the sources and the tests, resolves to the `ioredis6` alias package.
export default mergeConfig(
  redis,
  defineProject({
    resolve: { alias: [{ find: /^ioredis$/, replacement: 'ioredis6' }] },
    test: { name: 'redis-ioredis6' },
  }),
);
