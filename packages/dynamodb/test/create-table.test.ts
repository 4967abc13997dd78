import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbUrl } from '@leasekit/testing/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GC_ATTRIBUTE } from '../src/index.js';
import { clientConfig } from './helpers.js';

const script = fileURLToPath(new URL('./fixtures/create-table.mjs', import.meta.url));
const children = new Set<ChildProcess>();

beforeAll(() => {
  // The child processes run the built package, as an application would.
  if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
    throw new Error(
      'packages/dynamodb/dist is missing: run `pnpm turbo run build --filter @leasekit/dynamodb` first',
    );
  }
});
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Worker {
  readonly child: ChildProcess;
  readonly lines: AsyncIterator<string>;
}

async function boot(tableName: string): Promise<Worker> {
  const child = spawn(process.execPath, [script, JSON.stringify({ endpoint: dynamoDbUrl(), tableName })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ready = await lines.next();
  expect(JSON.parse(ready.value as string)).toEqual({ ready: true });
  return { child, lines };
}

describe('createLockTable from many processes at once (a fleet booting)', () => {
  it('8 processes on one new table: all succeed, one creates it, TTL enabled once', async () => {
    const tableName = `leasekit-fleet-${randomUUID()}`;
    const workers = await Promise.all(Array.from({ length: 8 }, () => boot(tableName)));
    for (const worker of workers) worker.child.stdin!.write('go\n');
    const results = await Promise.all(
      workers.map(async (worker) => {
        const line = await worker.lines.next();
        const [code] = (await once(worker.child, 'exit').catch(() => [null])) as [number | null];
        const answer = JSON.parse(line.value as string) as {
          created?: boolean;
          error?: string;
          message?: string;
        };
        return { ...answer, code };
      }),
    );
    expect(results.filter((result) => result.error !== undefined)).toEqual([]);
    expect(results.every((result) => result.code === 0)).toBe(true);
    expect(results.filter((result) => result.created === true)).toHaveLength(1);
    const admin = new DynamoDBClient(clientConfig());
    const { TimeToLiveDescription } = await admin.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );
    expect(TimeToLiveDescription).toMatchObject({
      AttributeName: DEFAULT_GC_ATTRIBUTE,
      TimeToLiveStatus: 'ENABLED',
    });
    admin.destroy();
  });
});
