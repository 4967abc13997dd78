import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/walkthrough.js', import.meta.url));

it('the demo takes, renews, loses and hands over leases, then exits on its own', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [main], { timeout: 20_000 });
  expect(stderr).toBe('');
  const lines = stdout.split('\n');
  const index = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
  expect(lines.filter((line) => /worker-a +renewed orders:42/.test(line)).length).toBeGreaterThanOrEqual(5);
  expect(stdout).toMatch(/worker-b +tryAcquire orders:42 -> null \(held\)/);
  expect(stdout).toMatch(/fence 2 > worker-a's fence 1/);
  // Loss is signalled to worker-a after worker-b took over, with the reason.
  expect(index(/worker-a +signal aborted: taken/)).toBeGreaterThan(index(/worker-b +acquired orders:42/));
  expect(index(/worker-a +LOST jobs:7: expired/)).toBeLessThan(index(/worker-b +acquired jobs:7/));
  expect(stdout).toMatch(/withLease returned 3/);
  expect(lines.at(-2)).toMatch(/closed both lockers/);
});
