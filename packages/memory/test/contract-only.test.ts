import { LEFT_TO_ANOTHER_FILE, runLeaseContractTests } from '@leasekit/contract-tests';
import type { RunnerTask } from 'vitest';
import { expect, it } from 'vitest';
import { createMemoryBackend, createMemoryStore } from '../src/index.js';

// The suite's `only`: each group it leaves to other files shows here as one skipped entry.
const store = createMemoryStore();
const name = 'memory, badInput only';

runLeaseContractTests({
  name,
  createBackend: () => createMemoryBackend({ store }),
  capabilities: {
    renew: true,
    fencing: true,
    inspect: true,
    releasedHint: true,
    handOver: true,
    contention: true,
    minTtlMs: 1,
    maxTtlMs: 2 ** 31 - 1,
  },
  timing: { ttlMs: 300 },
  only: ['badInput'],
});

/** Every test under `task`, with the mode it was registered in. */
function testsOf(task: RunnerTask): RunnerTask[] {
  return task.type === 'suite' ? task.tasks.flatMap(testsOf) : [task];
}

it('registers each group `only` leaves out as one skipped entry', ({ task }) => {
  const suite = task.file.tasks.find((t) => t.name === `leasekit contract: ${name}`);
  expect(suite?.type).toBe('suite');
  const groups = suite?.type === 'suite' ? suite.tasks : [];
  // Every group of the suite is there, not only the one that runs.
  expect(groups.length).toBeGreaterThanOrEqual(10);
  const running = groups.filter((group) => group.mode === 'run');
  expect(running.map((group) => group.name)).toEqual(['bad input is refused before any I/O']);
  for (const group of groups.filter((g) => g !== running[0])) {
    expect(group.mode, group.name).toBe('skip');
    const tests = testsOf(group);
    expect(
      tests.map((test) => [test.name, test.mode]),
      group.name,
    ).toEqual([[LEFT_TO_ANOTHER_FILE, 'skip']]);
  }
  expect(testsOf(running[0]!).every((test) => test.mode === 'run')).toBe(true);
});
