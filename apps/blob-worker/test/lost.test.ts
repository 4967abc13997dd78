import { isLeaseError } from '@leasekit/core';
import { describe, expect, it } from 'vitest';
import { MARK, processBlob } from '../src/index.js';
import { type Fixture, fixture, outputExists } from './helpers.js';

// A lease on the input blob broken from outside while the holder's renewal has not noticed yet
// (its signal is still live): Azure refuses the next request that carries the lease ID, and that
// refusal is the loss. Before, the refused download was recorded as a failure of the blob, and the
// refused failure mark then reported a conflict with another run; the worker reported no loss.

const options = { workerId: 'w', transform: 'gzip', maxAttempts: 3, paceMs: 0, lock: 'azure' } as const;

async function leased(f: Fixture): Promise<{ name: string; leaseId: string; breakIt: () => Promise<void> }> {
  await f.containers.output.createIfNotExists();
  const name = f.names[0]!;
  const lease = f.containers.input.getBlobClient(name).getBlobLeaseClient();
  const { leaseId } = await lease.acquireLease(15);
  return { name, leaseId: leaseId!, breakIt: async () => void (await lease.breakLease(0)) };
}

const marksOf = async (f: Fixture, name: string) =>
  (await f.containers.input.getBlobClient(name).getProperties()).metadata ?? {};

describe.concurrent('a lease broken from outside, before the renewal notices', () => {
  it('between the count and the download: the download is refused, and that is a lost lease, no failure', async () => {
    const f = await fixture(1);
    const { name, leaseId, breakIt } = await leased(f);
    const holding = { leaseId, fence: 1, signal: new AbortController().signal };
    const error = await processBlob(f.containers, name, holding, { ...options, onProcessing: breakIt }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLeaseError(error, 'NOT_HOLDER'), String(error)).toBe(true);
    expect(String(error)).toMatch(/Azure answered 412 Lease/);
    expect((error as Error).cause).toBeDefined();
    const marks = await marksOf(f, name);
    // The attempt was counted before the break; nothing was recorded after it.
    expect(marks[MARK.attempts]).toBe('1');
    expect(marks[MARK.failures]).toBeUndefined();
    expect(marks[MARK.error]).toBeUndefined();
    expect(marks[MARK.state]).toBeUndefined();
    expect(await outputExists(f.containers, `${name}.gz`)).toBe(false);
  });

  it('before the first read: the read is refused, a lost lease, nothing counted', async () => {
    const f = await fixture(1);
    const { name, leaseId, breakIt } = await leased(f);
    await breakIt();
    const holding = { leaseId, fence: 1, signal: new AbortController().signal };
    await expect(processBlob(f.containers, name, holding, options)).rejects.toMatchObject({
      code: 'NOT_HOLDER',
    });
    expect((await marksOf(f, name))[MARK.attempts]).toBeUndefined();
  });

  it('without a lease ID (a lock elsewhere), the same refusal would be no loss: a write by another run is a conflict', async () => {
    const f = await fixture(1);
    const name = f.names[0]!;
    await f.containers.output.createIfNotExists();
    const holding = { leaseId: undefined, fence: 1, signal: new AbortController().signal };
    // Another run marks the blob between this holder's count and its download: If-Match fails.
    const outcome = await processBlob(f.containers, name, holding, {
      ...options,
      onProcessing: async () => {
        await f.containers.input.getBlobClient(name).setMetadata({ other: 'run' });
      },
    });
    expect(outcome.kind).toBe('conflict');
  });
});
