import { createAzureBlobBackend } from '@leasekit/azure-blob';
import { describe, expect, it } from 'vitest';
import { verifyRun } from '../src/index.js';
import { allExited, eventsOf, fixture } from './helpers.js';

// Renewal and a clean stop, with real worker processes and Azure leases on the blobs themselves.

describe.concurrent('leasekit-blob-worker: renewal and stop signals', () => {
  it('processing that outlasts the lease keeps it by renewal: another worker never takes the blob, one commit', async () => {
    const f = await fixture(1);
    const slow = f.spawn('slow', ['--pace', '20s']);
    const processing = await slow.waitFor((e) => e.type === 'processing');
    const other = f.spawn('other');
    await allExited([slow, other]);
    const commits = eventsOf([slow, other], 'committed');
    expect(commits.map((c) => c.event.worker)).toEqual(['slow']);
    // Committed after the first 15 s lease would have run out: it was renewed meanwhile.
    expect(commits[0]!.at - processing.at).toBeGreaterThan(15_000);
    expect(eventsOf([other], 'processing')).toEqual([]);
    expect(eventsOf([other], 'held').length).toBeGreaterThan(0);
    expect(eventsOf([slow], 'lost')).toEqual([]);
    const verification = await verifyRun(f.containers);
    expect(verification).toMatchObject({ done: 1, outputs: 1, duplicates: [] });
    expect(verification.manifests[0]).toMatchObject({ worker: 'slow', attempt: 1 });
  });

  it('SIGINT: the current blob finishes within --drain and its lease is released; no more blobs are taken', async () => {
    const f = await fixture(3);
    const worker = f.spawn('drain', ['--pace', '3s']);
    const processing = await worker.waitFor((e) => e.type === 'processing');
    const blob = (processing.event as { blob: string }).blob;
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(0);
    expect(eventsOf([worker], 'stopping')).toHaveLength(1);
    expect(eventsOf([worker], 'processing').map((e) => e.event.blob)).toEqual([blob]);
    expect(eventsOf([worker], 'committed').map((e) => e.event.blob)).toEqual([blob]);
    expect(eventsOf([worker], 'summary')[0]?.event.summary).toMatchObject({ committed: 1, end: 'stopped' });
    expect(await verifyRun(f.containers)).toMatchObject({ done: 1, pending: 2, outputs: 1 });
    const admin = createAzureBlobBackend({ containerClient: f.containers.input, keys: 'blob-names' });
    for (const name of f.names) expect((await admin.inspect(name))?.held).toBe(false);
    await admin.close();
  });
});
