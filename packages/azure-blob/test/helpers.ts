import { randomUUID } from 'node:crypto';
import { ContainerClient } from '@azure/storage-blob';
import type { ContractCapabilities } from '@leasekit/contract-tests';
import { azureBlobConnectionString } from '@leasekit/testing/vitest';
import { type AzureBlobBackend, type AzureBlobBackendOptions, createAzureBlobBackend } from '../src/index.js';

export const connectionString = (): string => azureBlobConnectionString();

/** A container of its own for each test file (names: 3-63 lowercase letters, digits, hyphens). */
export const uniqueContainer = (label: string): string => `lk-${label}-${randomUUID().slice(0, 8)}`;

export const uniqueKey = (label: string): string => `lk-test:${label}:${randomUUID()}`;

export const containerClient = (container: string): ContainerClient =>
  new ContainerClient(connectionString(), container);

export const TTL_MS = 15_000;

export const capabilities = (fencing: boolean): ContractCapabilities => ({
  renew: true,
  fencing,
  inspect: true,
  releasedHint: false,
  minTtlMs: 15_000,
  maxTtlMs: 60_000,
  ttlGranularityMs: 1_000,
});

/** Backends opened by a test file, closed by `closeOpened()` in its `afterAll`. */
export function backendFactory(defaults: AzureBlobBackendOptions) {
  const opened: AzureBlobBackend[] = [];
  return {
    create(overrides: Partial<AzureBlobBackendOptions> = {}): AzureBlobBackend {
      const backend = createAzureBlobBackend({ ...defaults, ...overrides } as AzureBlobBackendOptions);
      opened.push(backend);
      return backend;
    },
    async closeAll(): Promise<void> {
      await Promise.all(opened.splice(0).map((backend) => backend.close()));
    },
  };
}
