export type { ServiceCapabilities } from './capabilities.js';
export { HttpProblemError, type Problem } from './errors.js';
export { createHttpBackend, type HttpBackend, type HttpBackendOptions } from './http-backend.js';
export {
  type AcquiredLock,
  type BackoffOptions,
  createLockClient,
  type Lock,
  type LockAcquireOptions,
  type LockClient,
  type LockClientOptions,
  type LockInfo,
} from './lock-client.js';
export type { ConnectionOptions } from './options.js';
