import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dynamoDbUrl } from '@leasekit/testing/vitest';
import { afterAll, expect, it } from 'vitest';

// The README's first example must run as written (against the test server).
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
// Inside the package, so that its imports resolve as they would in an application.
const file = fileURLToPath(new URL(`../readme-example-${process.pid}.mjs`, import.meta.url));
afterAll(() => rmSync(file, { force: true }));

it('the README example runs', async () => {
  expect(example).toContain('createDynamoDbBackend');
  writeFileSync(file, example);
  const { stdout } = await promisify(execFile)(process.execPath, [file], {
    env: { ...process.env, DYNAMODB_ENDPOINT: dynamoDbUrl() },
    timeout: 20_000,
  });
  expect(stdout).toMatch(/fence \d+/);
  expect(stdout).toMatch(/held: true/);
  expect(stdout).toContain("owner: 'worker-7'");
}, 30_000);
