import { describe, expect, it } from 'vitest';
import { MARK, OutputExistsError, processBlob, stateOf, verifyRun } from '../src/index.js';
import { fixture } from './helpers.js';

// The adopt path, driven step by step against Azurite: a holder commits the output and dies
// before writing its manifest and marking the input; the next holder finds the same output and
// adopts it. Every committed output must still have a manifest.

const options = (workerId: string) =>
  ({ workerId, transform: 'gzip', maxAttempts: 3, paceMs: 0, lock: 'redis' }) as const;
const holding = (fence: number) => ({ leaseId: undefined, fence, signal: new AbortController().signal });

describe('an output committed by a holder that died', () => {
  it('is adopted by the next holder, which leaves a manifest naming itself and the original', async () => {
    const f = await fixture(1);
    await f.containers.output.createIfNotExists(); // as the worker's run does
    const name = f.names[0]!;
    const first = await processBlob(f.containers, name, holding(1), options('dead'));
    expect(first.kind).toBe('committed');
    // The first holder "died" after its commit: no manifest, the input still pending.
    await f.containers.output.getBlobClient(`${name}.manifest.json`).delete();
    await f.containers.input.getBlobClient(name).setMetadata({});
    expect(stateOf((await f.containers.input.getBlobClient(name).getProperties()).metadata ?? {})).toBe(
      'pending',
    );

    const next = await processBlob(f.containers, name, holding(2), options('next'));
    expect(next.kind).toBe('adopted');
    const verification = await verifyRun(f.containers);
    expect(verification).toMatchObject({ inputs: 1, done: 1, outputs: 1 });
    expect(verification.duplicates).toEqual([]);
    expect(verification.manifests).toHaveLength(1);
    const manifest = verification.manifests[0]!;
    expect(manifest).toMatchObject({
      worker: 'next',
      fence: 2,
      adoptedFrom: { worker: 'dead', fence: 1 },
      input: { name },
      output: { name: `${name}.gz` },
    });
    expect(next.kind === 'adopted' && next.manifest).toEqual(manifest);
    // The input is marked done (by the committing worker's name, as before).
    const marks = (await f.containers.input.getBlobClient(name).getProperties()).metadata ?? {};
    expect(marks[MARK.state]).toBe('done');
  });

  it("keeps the original's manifest when it wrote one before dying", async () => {
    const f = await fixture(1);
    await f.containers.output.createIfNotExists(); // as the worker's run does
    const name = f.names[0]!;
    await processBlob(f.containers, name, holding(1), options('dead'));
    await f.containers.input.getBlobClient(name).setMetadata({});
    expect((await processBlob(f.containers, name, holding(2), options('next'))).kind).toBe('adopted');
    const { manifests } = await verifyRun(f.containers);
    expect(manifests).toHaveLength(1);
    expect(manifests[0]).toMatchObject({ worker: 'dead', fence: 1 });
    expect(manifests[0]?.adoptedFrom).toBeUndefined();
  });

  it('OutputExistsError carries its code and is not retryable', () => {
    const error = new OutputExistsError('x exists already');
    expect(error).toMatchObject({ name: 'OutputExistsError', code: 'OUTPUT_EXISTS', retryable: false });
  });
});
