export { createRedisBackend, type RedisBackend, type RedisBackendOptions } from './backend.js';
export { classifyError } from './errors.js';
export { DEFAULT_PREFIX, type RedisKeyNames, redisKeyNames } from './keys.js';
export { createLockClient, lockClientOptions, type RedisNodeSpec } from './node.js';
export type { EvictingNodes } from './node-check.js';
