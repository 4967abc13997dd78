/**
 * `@leasekit/azure-blob/backend-kit`: Azure's error-code tables and the helpers that read an
 * SDK error, for authors of backends or tools on Azure leases. Kept off the root export (an
 * application needs `classifyError` at most); less stable than the root API.
 */
export { azureErrorCode, describeAnswer, HELD_CODES, LOST_CODES, type RestErrorLike } from './errors.js';
