import { inject } from 'vitest';
import { AZURE_BLOB_ENV } from '../azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the Azurite started (or named by the environment) by the azurite global setup. */
    leasekitAzureBlobConnectionString: string;
  }
}

/**
 * In a test: the connection string provided by the azurite global setup. Throws a clear error when
 * the project did not configure it.
 */
export function azureBlobConnectionString(): string {
  const value = inject('leasekitAzureBlobConnectionString') as string | undefined;
  if (!value) {
    throw new Error(
      `[leasekit] [testing] no Azure Blob endpoint was provided: add '@leasekit/testing/vitest/azurite' to test.globalSetup, or set ${AZURE_BLOB_ENV.url} or ${AZURE_BLOB_ENV.connectionString}`,
    );
  }
  return value;
}
