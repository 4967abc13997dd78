import { redisUrls } from '@leasekit/testing/vitest';
import { describe, expect, it } from 'vitest';
import { MARK, verifyRun } from '../src/index.js';
import type { WorkerProcess } from '../src/pool.js';
import { eventsOf, type Fixture, fixture, supervise } from './helpers.js';

// Bounded attempts with real worker processes: a seeded crashing blob kills (SIGKILL) every
// worker that processes it, as the OOM killer would; a supervisor restarts the dead workers. The
// attempt is counted on the input blob under the lease before the work starts, so the holder that
// finds the bound reached marks the blob failed instead of dying again. Before that count existed
// this run never ended: every take-over died, and the blob stayed pending.

async function lastProcessed(worker: WorkerProcess): Promise<string | undefined> {
  await worker.exited;
  return eventsOf([worker], 'processing').at(-1)?.event.blob;
}

/** Every blob but the marked ones done exactly once: one commit, one output, one manifest each. */
async function expectOthersOnce(f: Fixture, workers: readonly WorkerProcess[], lock: string) {
  const others = f.names.filter((name) => !f.crashing.includes(name) && !f.poison.includes(name));
  const verification = await verifyRun(f.containers);
  expect(verification).toMatchObject({
    inputs: f.names.length,
    done: others.length,
    failed: f.crashing.length + f.poison.length,
    pending: 0,
    outputs: others.length,
    duplicates: [],
  });
  expect(verification.manifests.map((m) => m.input.name)).toEqual([...others].sort());
  for (const manifest of verification.manifests) expect(manifest).toMatchObject({ lock, attempt: 1 });
  const commits = eventsOf(workers, 'committed').map((c) => c.event.blob);
  expect(commits.sort()).toEqual([...others].sort());
  expect(eventsOf(workers, 'conflict')).toEqual([]);
  expect(eventsOf(workers, 'adopted')).toEqual([]);
  return verification;
}

describe.concurrent('a blob whose processing kills the worker', () => {
  it('is marked failed with the reason after --max-attempts deaths (Azure lease on the blob); every other blob done once', async () => {
    const f = await fixture(12, { failing: 1, crashing: 1 });
    const crashing = f.crashing[0]!;
    const poison = f.poison[0]!;
    const { workers, restarts } = await supervise(f, ['a', 'b', 'c'], ['--max-attempts', '2'], 5);
    // Exactly the bound's worth of deaths, each while processing the crashing blob.
    expect(restarts).toBe(2);
    const killed = [];
    for (const w of workers) if ((await w.exited) === 'SIGKILL') killed.push(await lastProcessed(w));
    expect(killed).toEqual([crashing, crashing]);
    expect(eventsOf(workers, 'processing').filter((e) => e.event.blob === crashing)).toHaveLength(2);
    // Each take-over waited for the dead holder's 15 s lease (1 s allowed for the clocks' reading).
    // (A worker whose listing was older may still take it after it was marked failed, and skip it.)
    const takes = eventsOf(workers, 'taken')
      .filter((e) => e.event.blob === crashing)
      .map((e) => e.at)
      .sort((a, b) => a - b);
    expect(takes.length).toBeGreaterThanOrEqual(3);
    expect(takes[1]! - takes[0]!).toBeGreaterThanOrEqual(14_000);
    expect(takes[2]! - takes[1]!).toBeGreaterThanOrEqual(14_000);

    const verification = await expectOthersOnce(f, workers, 'azure');
    const byName = new Map(verification.failures.map((failure) => [failure.name, failure]));
    expect(byName.get(crashing)?.attempts).toBe(2);
    expect(byName.get(crashing)?.reason).toMatch(
      /^the worker died 2 times while processing it .*; the last attempt by [a-c](\.\d)?@\d+$/,
    );
    expect(byName.get(poison)?.attempts).toBe(2);
    expect(byName.get(poison)?.reason).toMatch(/^PoisonBlobError: /);
    const failedEvents = eventsOf(workers, 'failed').map((e) => e.event);
    expect(failedEvents.map((e) => e.blob).sort()).toEqual([crashing, poison].sort());
    expect(failedEvents.find((e) => e.blob === crashing)?.reason).toMatch(/died 2 times/);
    expect(eventsOf(workers, 'retry').map((e) => e.event.blob)).toEqual([poison]);
    const marks = (await f.containers.input.getBlobClient(crashing).getProperties()).metadata ?? {};
    expect(marks).toMatchObject({ [MARK.state]: 'failed', [MARK.attempts]: '2' });
    expect(marks[MARK.failures]).toBeUndefined();
  });

  it('the same with --backend redis (a lock per blob name, marks under If-Match): failed after 3 deaths', async () => {
    const f = await fixture(10, { crashing: 1 });
    const crashing = f.crashing[0]!;
    const redis = ['--backend', 'redis', '--redis-urls', redisUrls().join(','), '--ttl', '2s'];
    const { workers, restarts } = await supervise(f, ['r1', 'r2'], redis, 6);
    expect(restarts).toBe(3);
    expect(eventsOf(workers, 'processing').filter((e) => e.event.blob === crashing)).toHaveLength(3);
    const verification = await expectOthersOnce(f, workers, 'redis');
    expect(verification.failures).toEqual([
      {
        name: crashing,
        attempts: 3,
        reason: expect.stringMatching(/^the worker died 3 times while processing it/),
      },
    ]);
  });
});
