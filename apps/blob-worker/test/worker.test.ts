import { createAzureBlobBackend } from '@leasekit/azure-blob';
import { redisUrls } from '@leasekit/testing/vitest';
import { describe, expect, it } from 'vitest';
import { MARK, verifyRun } from '../src/index.js';
import type { WorkerProcess } from '../src/pool.js';
import { allExited, eventsOf, type Fixture, fixture, outputExists } from './helpers.js';

/** 200 outputs, one commit per blob, each manifest naming the worker and fence of that commit. */
async function expectExactlyOnce(f: Fixture, workers: readonly WorkerProcess[], lock: string): Promise<void> {
  const verification = await verifyRun(f.containers);
  expect(verification).toMatchObject({
    inputs: f.names.length,
    done: f.names.length,
    pending: 0,
    failed: 0,
    outputs: f.names.length,
  });
  expect(verification.duplicates).toEqual([]);
  expect(verification.manifests.map((m) => m.input.name)).toEqual([...f.names].sort());
  const commits = eventsOf(workers, 'committed');
  expect(commits).toHaveLength(f.names.length);
  expect(new Set(commits.map((c) => c.event.blob)).size).toBe(f.names.length);
  const byBlob = new Map(commits.map((c) => [c.event.blob, c.event]));
  for (const manifest of verification.manifests) {
    const commit = byBlob.get(manifest.input.name);
    expect(manifest).toMatchObject({ worker: commit?.worker, fence: commit?.fence, lock });
    expect(manifest.fence).toBeGreaterThanOrEqual(1);
    expect(manifest.output.sha256).toMatch(/^[0-9a-f]{64}$/);
  }
  expect(eventsOf(workers, 'conflict')).toEqual([]);
  expect(eventsOf(workers, 'adopted')).toEqual([]);
  // Every worker did part of the work.
  for (const worker of workers) expect(commits.some((c) => c.event.worker === worker.id)).toBe(true);
}

describe.concurrent('leasekit-blob-worker against Azurite', () => {
  it('4 workers x 200 blobs, leases on the blobs themselves: 200 outputs, each blob committed once', async () => {
    const f = await fixture(200);
    const workers = [1, 2, 3, 4].map((i) => f.spawn(`azure-${i}`));
    await allExited(workers);
    await expectExactlyOnce(f, workers, 'azure');
  });

  it('the same with --backend redis over 3 redis-server nodes (100 blobs: Azurite is the bottleneck)', async () => {
    const f = await fixture(100);
    expect(redisUrls()).toHaveLength(3);
    const redis = ['--backend', 'redis', '--redis-urls', redisUrls().join(',')];
    const workers = [1, 2, 3, 4].map((i) => f.spawn(`redis-${i}`, redis));
    await allExited(workers);
    await expectExactlyOnce(f, workers, 'redis');
  });

  it('a worker killed mid-blob (SIGKILL): another takes the blob over once the lease expired, one output', async () => {
    const f = await fixture(20);
    const victim = f.spawn('victim', ['--pace', '60s']);
    const processing = await victim.waitFor((e) => e.type === 'processing');
    const blob = (processing.event as { blob: string }).blob;
    const taken = victim.events.find((e) => e.event.type === 'taken' && e.event.blob === blob)!;
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    const others = [1, 2].map((i) => f.spawn(`survivor-${i}`));
    await allExited(others);
    const takeOvers = eventsOf(others, 'processing').filter((e) => e.event.blob === blob);
    expect(takeOvers).toHaveLength(1);
    // Not before the victim's 15 s lease ran out (1 s allowed for the two clocks' reading).
    expect(takeOvers[0]!.at - taken.at).toBeGreaterThanOrEqual(14_000);
    expect(takeOvers[0]!.event.fence).toBeGreaterThan((taken.event as { fence: number }).fence);
    const verification = await verifyRun(f.containers);
    expect(verification).toMatchObject({ done: 20, outputs: 20, duplicates: [] });
    const manifest = verification.manifests.find((m) => m.input.name === blob);
    expect(manifest?.worker).toBe(takeOvers[0]!.event.worker);
    // The victim's attempt was counted before it died: the take-over is the second.
    expect(manifest?.attempt).toBe(2);
    expect(eventsOf([victim], 'committed')).toEqual([]);
  });

  it('a worker whose lease is broken from outside (breakLease) stops and commits nothing; SIGTERM abandons cleanly', async () => {
    const f = await fixture(1);
    const blob = f.names[0]!;
    const worker = f.spawn('broken', ['--pace', '60s', '--drain', '0s']);
    await worker.waitFor((e) => e.type === 'processing');
    const admin = createAzureBlobBackend({ containerClient: f.containers.input, keys: 'blob-names' });
    expect((await admin.breakLease(blob)).broken).toBe(true);
    const lost = await worker.waitFor((e) => e.type === 'lost');
    expect(lost.event).toMatchObject({ blob });
    // It takes the blob again (the lease is free); a stop signal then abandons it and releases the lease.
    // (The second `processing`: `waitFor` also matches past events, so the first one would do at once.)
    let processing = 0;
    await worker
      .waitFor((e) => e.type === 'processing' && ++processing === 2)
      .catch((error: unknown) => {
        // What the worker did instead (this failed under full-suite load only, twice in a row).
        throw new Error(`${String(error)}; its events: ${JSON.stringify(worker.events.map((t) => t.event))}`);
      });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(eventsOf([worker], 'abandoned')).toHaveLength(1);
    expect(eventsOf([worker], 'committed')).toEqual([]);
    expect(await outputExists(f.containers, `${blob}.gz`)).toBe(false);
    expect(await outputExists(f.containers, `${blob}.manifest.json`)).toBe(false);
    const verification = await verifyRun(f.containers);
    expect(verification).toMatchObject({ pending: 1, done: 0, outputs: 0 });
    expect((await admin.inspect(blob))?.held).toBe(false);
    // The attempt whose lease was broken counts (it could not record anything: a lost lease looks
    // like a death); the one abandoned on SIGTERM was given back.
    const marks = (await f.containers.input.getBlobClient(blob).getProperties()).metadata ?? {};
    expect(marks[MARK.attempts]).toBe('1');
    await admin.close();
  });

  it('control run with --no-lease: workers process the same blobs (the check above can fail)', async () => {
    // Each blob takes 5 s, so workers whose starts are up to 5 s apart (a loaded machine spawns slowly)
    // all find the first blob pending; 200 ms per blob once let the first worker finish all of them alone.
    const f = await fixture(2);
    const workers = [1, 2, 3].map((i) => f.spawn(`nolease-${i}`, ['--no-lease', '--pace', '5s']));
    await allExited(workers);
    const starts = eventsOf(workers, 'processing');
    const perBlob = new Map<string, number>();
    for (const s of starts) perBlob.set(s.event.blob, (perBlob.get(s.event.blob) ?? 0) + 1);
    expect([...perBlob.values()].some((n) => n > 1)).toBe(true);
    expect(starts.length).toBeGreaterThan(2);
    // The exactly-once check the leased runs pass fails on this one.
    await expect(expectExactlyOnce(f, workers, 'none')).rejects.toThrow();
  });
});
