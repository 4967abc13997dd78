/** Reads back what a run left: the input's marks and the output container's blobs and manifests. */

import { historyOf, stateOf } from './metadata.js';
import type { Manifest } from './processor.js';
import type { Containers } from './storage.js';

export interface Verification {
  readonly inputs: number;
  readonly done: number;
  readonly failed: number;
  readonly pending: number;
  /** The inputs marked failed, with what their marks say. */
  readonly failures: readonly { readonly name: string; readonly attempts: number; readonly reason: string }[];
  /** Output blobs (manifests excluded). */
  readonly outputs: number;
  readonly manifests: readonly Manifest[];
  /** Input names with more than one output or manifest: must be empty. */
  readonly duplicates: readonly string[];
}

export async function verifyRun(containers: Containers): Promise<Verification> {
  let inputs = 0;
  const states = { pending: 0, done: 0, failed: 0 };
  const failures: Verification['failures'][number][] = [];
  for await (const item of containers.input.listBlobsFlat({ includeMetadata: true })) {
    inputs++;
    const state = stateOf(item.metadata);
    states[state]++;
    if (state === 'failed') {
      const history = historyOf(item.metadata);
      failures.push({ name: item.name, attempts: history.attempts, reason: history.lastError ?? '' });
    }
  }
  let outputs = 0;
  const manifestNames: string[] = [];
  for await (const item of containers.output.listBlobsFlat()) {
    if (item.name.endsWith('.manifest.json')) manifestNames.push(item.name);
    else outputs++;
  }
  const manifests: Manifest[] = [];
  const lanes = Array.from({ length: 8 }, async () => {
    for (let name = manifestNames.pop(); name !== undefined; name = manifestNames.pop()) {
      const buffer = await containers.output.getBlobClient(name).downloadToBuffer();
      manifests.push(JSON.parse(buffer.toString('utf8')) as Manifest);
    }
  });
  await Promise.all(lanes);
  const seen = new Map<string, number>();
  for (const manifest of manifests) seen.set(manifest.input.name, (seen.get(manifest.input.name) ?? 0) + 1);
  const duplicates = [...seen].filter(([, count]) => count > 1).map(([name]) => name);
  manifests.sort((a, b) => a.input.name.localeCompare(b.input.name));
  return { inputs, ...states, failures, outputs, manifests, duplicates };
}
