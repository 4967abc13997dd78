export {
  createDynamoDbBackend,
  type DynamoDbBackend,
  type DynamoDbBackendOptions,
  type DynamoDbCapabilities,
  type TakeoverRule,
} from './backend.js';
export { BACKEND, classifyError } from './errors.js';
export {
  ATTR,
  type CreateLockTableOptions,
  type CreateLockTableResult,
  createLockTable,
  DEFAULT_GC_ATTRIBUTE,
  DEFAULT_PARTITION_KEY,
} from './schema.js';
