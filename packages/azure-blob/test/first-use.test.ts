import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionString, containerClient, uniqueContainer, uniqueKey } from './helpers.js';

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Worker {
  readonly child: ChildProcess;
  readonly lines: AsyncIterator<string>;
}

async function boot(container: string, key: string): Promise<Worker> {
  const script = fileURLToPath(new URL('./fixtures/first-use.ts', import.meta.url));
  const hooks = fileURLToPath(new URL('./fixtures/ts-resolve.mjs', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--no-warnings', '--import', hooks, script, connectionString(), container, key],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const ready = await lines.next();
  expect(JSON.parse(ready.value as string)).toEqual({ ready: true });
  return { child, lines };
}

// The child runs this package's TypeScript as is: Node strips the types (22.18+, 23.6+).
const nodeRunsTypeScript = Boolean((process.features as { typescript?: unknown }).typescript);

describe('first use of a new container from many processes at once (a fleet booting)', () => {
  it.skipIf(!nodeRunsTypeScript)(
    '8 processes acquiring one key: all answer (container and lock blob created once), exactly one holds it',
    async () => {
      const container = uniqueContainer('fleet');
      const key = uniqueKey('fleet');
      const workers = await Promise.all(Array.from({ length: 8 }, () => boot(container, key)));
      for (const worker of workers) worker.child.stdin!.write('go\n');
      const results = await Promise.all(
        workers.map(async (worker) => {
          const line = await worker.lines.next();
          const [code] = (await once(worker.child, 'exit')) as [number | null];
          const answer = JSON.parse(line.value as string) as {
            status?: string;
            error?: string;
            message?: string;
          };
          return { ...answer, code };
        }),
      );
      expect(results.filter((result) => result.error !== undefined)).toEqual([]);
      expect(results.every((result) => result.code === 0)).toBe(true);
      expect(results.filter((result) => result.status === 'acquired')).toHaveLength(1);
      expect(results.filter((result) => result.status === 'held')).toHaveLength(7);
      await containerClient(container).deleteIfExists();
    },
  );
});
