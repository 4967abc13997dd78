/**
 * Ready-made vitest global setup: three redis-server processes (or `LEASEKIT_REDIS_URLS`).
 * `test: { globalSetup: ['@leasekit/testing/vitest/redis'] }`
 */
import { type GlobalSetup, redisGlobalSetup } from './setup.js';

const setup: GlobalSetup = redisGlobalSetup({ count: 3 });
export default setup;
