import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createLocker } from '@leasekit/core';
import { dynamoDbUrl } from '@leasekit/testing/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PARTITION_KEY } from '../src/index.js';
import { key, newBackend, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-processes');
const script = fileURLToPath(new URL('./fixtures/contender.mjs', import.meta.url));
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

type Line = Record<string, number | string | undefined>;

interface Run {
  readonly lines: Line[];
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
  /** Resolves with the `n`th line printed (from 0). */
  line(n: number): Promise<Line>;
}

function contender(config: Record<string, unknown>): Run {
  const child = spawn(
    process.execPath,
    [
      script,
      JSON.stringify({
        endpoint: dynamoDbUrl(),
        tableName: table.tableName,
        partitionKey: DEFAULT_PARTITION_KEY,
        ...config,
      }),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.add(child);
  const lines: Line[] = [];
  let stderr = '';
  let buffered = '';
  const waiting = new Map<number, (line: Line) => void>();
  const line = (n: number) =>
    n < lines.length ? Promise.resolve(lines[n]!) : new Promise<Line>((resolve) => waiting.set(n, resolve));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const parsed = JSON.parse(buffered.slice(0, newline)) as Line;
      buffered = buffered.slice(newline + 1);
      lines.push(parsed);
      waiting.get(lines.length - 1)?.(parsed);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      if (code !== 0 && code !== null) console.error(`contender exited with ${code}:\n${stderr}`);
      resolve(code);
    }),
  );
  return { lines, exited, child, line };
}

describe('two processes contending on one key', () => {
  it('never overlap: a read-modify-write counter under the lock loses no update, fences increase', async () => {
    const k = key('two-processes');
    const counterKey = key('counter');
    const iterations = 20;
    const runs = [0, 1].map(() => contender({ key: k, counterKey, iterations, ttlMs: 5_000, mode: 'count' }));
    // Both start at once, after their (unequal, under a loaded CI) start-up.
    expect(await Promise.all(runs.map((run) => run.line(0)))).toEqual([{ ready: true }, { ready: true }]);
    for (const run of runs) run.child.stdin!.end('go\n');
    expect(await Promise.all(runs.map((run) => run.exited))).toEqual([0, 0]);
    const [a, b] = runs.map((run) => run.lines.slice(1) as Record<string, number>[]);
    expect([a!.length, b!.length]).toEqual([iterations, iterations]);
    const sections = [...a!, ...b!].sort((x, y) => x.fence! - y.fence!);
    // They really contended: each got the lock while the other still had work to do.
    expect(Math.min(a!.at(-1)!.end!, b!.at(-1)!.end!)).toBeGreaterThan(
      Math.max(a![0]!.start!, b![0]!.start!),
    );
    for (let i = 1; i < sections.length; i++) {
      expect(sections[i]!.fence!).toBeGreaterThan(sections[i - 1]!.fence!);
      // Fence order is time order, and the critical sections never overlap (same machine clock).
      expect(sections[i]!.start!).toBeGreaterThanOrEqual(sections[i - 1]!.end!);
    }
    const { Item } = await table.admin().send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { [DEFAULT_PARTITION_KEY]: { S: counterKey } },
        ConsistentRead: true,
      }),
    );
    expect(Number(Item?.n?.N)).toBe(2 * iterations);
  }, 60_000);

  it('a holder process killed with SIGKILL is taken over one lease duration after the last renewal another process saw', async () => {
    const k = key('crash');
    const ttlMs = 1_000;
    const holder = contender({ key: k, ttlMs, mode: 'hold' });
    const acquired = (await holder.line(0)).acquired as number;
    // Let it renew a few times, then crash it.
    await new Promise((resolve) => setTimeout(resolve, ttlMs));
    holder.child.kill('SIGKILL');
    await holder.exited;
    const locker = createLocker(newBackend(table.tableName), { ttl: ttlMs, retry: { max: '50ms' } });
    const started = performance.now();
    const lease = await locker.acquire(k, { wait: ttlMs * 3 });
    const waited = performance.now() - started;
    // This process had never seen the key: it watches one full lease duration before taking over.
    expect(waited).toBeGreaterThanOrEqual(ttlMs);
    expect(waited).toBeLessThan(ttlMs * 2);
    expect(lease.fence!).toBeGreaterThan(acquired);
    await lease.release();
    await locker.close();
  }, 30_000);

  it('a paused holder process (SIGSTOP) is taken over no sooner than one lease after it stopped; resumed, it learns it lost and its late renewal is refused', async () => {
    const k = key('paused-process');
    const ttlMs = 1_000;
    const holder = contender({ key: k, ttlMs, mode: 'hold' });
    const acquired = (await holder.line(0)).acquired as number;
    await new Promise((resolve) => setTimeout(resolve, ttlMs)); // a few renewals
    holder.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const locker = createLocker(newBackend(table.tableName), { ttl: ttlMs, retry: { max: '50ms' } });
    const lease = await locker.acquire(k, { wait: ttlMs * 3 });
    // Its last record version was written before the stop: no takeover sooner than a lease after.
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual(ttlMs);
    expect(lease.fence!).toBeGreaterThan(acquired);
    holder.child.kill('SIGCONT');
    const resumed = await holder.line(1);
    expect(['renewal-failed', 'late-renewal']).toContain(resumed.lost);
    expect(resumed.lateRenew).toBe('lost');
    // The new holder is untouched.
    expect(await locker.inspect(k)).toMatchObject({ held: true, token: lease.token });
    holder.child.kill('SIGKILL');
    await holder.exited;
    await lease.release();
    await locker.close();
  }, 30_000);
});
