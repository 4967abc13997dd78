export type { AzureLeaseInfo, AzureLeaseState, BreakLeaseResult } from './admin.js';
export { type AzureBlobBackend, createAzureBlobBackend } from './backend.js';
export { decodeLockBlobName, encodeKey, type KeyLayout, MAX_BLOB_NAME_LENGTH } from './blob-names.js';
export { classifyError } from './errors.js';
export { METADATA } from './fencing.js';
export { MAX_LEASE_MS, MIN_LEASE_MS } from './lease-params.js';
export { type AzureBlobBackendOptions, recommendedRetryOptions } from './options.js';
