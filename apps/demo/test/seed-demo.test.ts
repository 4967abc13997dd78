import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const demo = fileURLToPath(new URL('../dist/seed-demo.js', import.meta.url));

const runDemo = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [demo, ...args], { timeout: 80_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

it('./dev demo starts the stack, runs the load over both order services, says the invariant held, and stops everything', async () => {
  const { code, stdout, stderr } = await runDemo([
    '--',
    '--batches',
    '10',
    '--pause',
    '0',
    '--progress',
    'none',
  ]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout).toMatch(/lock service +http:\/\/127\.0\.0\.1:\d+/);
  expect(stdout).toMatch(/database +postgres:\/\/.* \(pglite\)/);
  expect(stdout).toMatch(/200 requests in .* batches of 20/);
  expect(stdout).toMatch(/by instance: order-a: 100, order-b: 100/);
  expect(stdout).toMatch(/ok {3}item1: initial 100, sold 100, final 0, expected 0/);
  expect(stdout).toMatch(/INVARIANT HELD/);
  expect(stdout).toMatch(/The lock held/);
  // Everything it started is gone: the order services no longer answer.
  const urls = [...stdout.matchAll(/order service +(http:\/\/\S+)/g)].map((match) => match[1]!);
  expect(urls).toHaveLength(2);
  for (const url of urls) await expect(fetch(`${url}/healthz`)).rejects.toThrow();
}, 90_000);

it('./dev demo --no-lock runs the same load without the lock, and the check reports the oversell', async () => {
  // 200 orders for 100 units, 20 at a time, with no lock: reads and writes of one batch interleave.
  const { code, stdout, stderr } = await runDemo([
    '--no-lock',
    '--',
    '--batches',
    '10',
    '--pause',
    '0',
    '--progress',
    'none',
  ]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout).toMatch(/two order services \(LOCKING=off\)/);
  expect(stdout).toMatch(/FAIL item1: initial 100, sold \d+, final \d+, expected -?\d+ -> oversold/);
  expect(stdout).toMatch(/INVARIANT VIOLATED/);
  expect(stdout).toMatch(/Without the lock the order services oversold/);
}, 90_000);

it('refuses a mistyped option before starting anything, with the usage', async () => {
  const { code, stdout, stderr } = await runDemo(['--nolock']);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toMatch(/^\.\/dev demo: Unknown option '--nolock'/);
  expect(stderr).toMatch(/--no-lock +the order services run with LOCKING=off/);
});
