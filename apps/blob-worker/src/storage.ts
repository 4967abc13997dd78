/** The two containers a worker uses, as `@azure/storage-blob` clients with bounded retries. */
import { ContainerClient } from '@azure/storage-blob';
import { recommendedRetryOptions } from '@leasekit/azure-blob';
import type { StorageConfig } from './config.js';

export interface Containers {
  readonly input: ContainerClient;
  readonly output: ContainerClient;
}

export function openContainers(config: StorageConfig): Containers {
  // Every request of a work item must fit in its lease: a few quick tries, each bounded.
  const options = { retryOptions: recommendedRetryOptions };
  return {
    input: new ContainerClient(config.connectionString, config.input, options),
    output: new ContainerClient(config.connectionString, config.output, options),
  };
}

/** Output blob names: the input's name plus what the transform adds. */
export function outputNames(
  name: string,
  extension: string,
): { readonly data: string; readonly manifest: string } {
  return { data: `${name}${extension}`, manifest: `${name}.manifest.json` };
}
