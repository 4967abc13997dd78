/**
 * Vitest global setup for Azure Blob tests: one Azurite blob service in memory on a free loopback
 * port (or the endpoint named by `LEASEKIT_AZURE_STORAGE_CONNECTION_STRING` / `LEASEKIT_AZURE_BLOB_URL`),
 * stopped after the run. Tests read its connection string with `azureBlobConnectionString()`.
 * `test: { globalSetup: ['@leasekit/testing/vitest/azurite'] }`
 */
import { type AzuriteOptions, type AzuriteServer, azureBlobFromEnv, startAzurite } from '../azurite.js';

import { type ProvideFor, type ServerGlobalSetup, serverGlobalSetup } from './server-setup.js';

export type AzuriteProvideContext = ProvideFor<'leasekitAzureBlobConnectionString', string>;
export type AzuriteGlobalSetup = ServerGlobalSetup<'leasekitAzureBlobConnectionString', string>;

/**
 * A vitest global setup that starts Azurite (unless the environment names an endpoint) and provides
 * its connection string as `leasekitAzureBlobConnectionString`.
 */
export function azuriteGlobalSetup(options: AzuriteOptions = {}): AzuriteGlobalSetup {
  return serverGlobalSetup({
    key: 'leasekitAzureBlobConnectionString',
    fromEnv: azureBlobFromEnv,
    start: (): Promise<AzuriteServer> => startAzurite(options),
    address: (server) => server.connectionString,
  });
}

const setup: AzuriteGlobalSetup = azuriteGlobalSetup();
export default setup;
