import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { redisUrls } from '@leasekit/testing/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend } from '../src/index.js';
import { adminClients, closeAll, eventually, uniqueKey } from './helpers.js';

const urls = redisUrls().slice(0, 3);
const admin = adminClients(urls);
const opened: RedisBackend[] = [];
const backend = (prefix?: string) => {
  const created = createRedisBackend({ nodes: urls, ...(prefix ? { prefix } : {}), onWarning: () => {} });
  opened.push(created);
  return created;
};
afterAll(async () => {
  await Promise.all(opened.map((created) => created.close()));
  await closeAll(admin);
});

const script = fileURLToPath(new URL('./fixtures/hot-keys.mjs', import.meta.url));
beforeAll(() => {
  // The child processes run the built package, as an application would.
  if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
    throw new Error(
      'packages/redis/dist is missing: run `pnpm turbo run build --filter @leasekit/redis` first',
    );
  }
});

/** One application instance (`fixtures/hot-keys.mjs`): its lines, and a way to start its work. */
function instance(config: Record<string, unknown>) {
  const child = spawn(process.execPath, [script, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Record<string, number>[] = [];
  const waiting: ((line: Record<string, number>) => void)[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = JSON.parse(buffered.slice(0, newline)) as Record<string, number>;
      buffered = buffered.slice(newline + 1);
      const next = waiting.shift();
      if (next) next(line);
      else lines.push(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`exited with ${code}: ${stderr}`)),
    ),
  );
  const line = () =>
    lines.length > 0
      ? Promise.resolve(lines.shift()!)
      : Promise.race([
          new Promise<Record<string, number>>((resolve) => waiting.push(resolve)),
          exited.then((): Record<string, number> => ({})),
        ]);
  return { child, line, exited, go: () => child.stdin.write('go\n') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fair across lockers (independent connections, as separate processes have)', () => {
  it('a backend that starts waiting while its subscriber connections are still connecting listens on every node, and hears the releases', async () => {
    const prefix = `${uniqueKey('subscribe')}:`;
    const holder = backend(prefix);
    const listener = backend(prefix);
    const keys = Array.from({ length: 30 }, (_, i) => uniqueKey(`subscribe-${i}`));
    const held = await Promise.all(
      keys.map(async (key) => {
        const token = `holder-${key}`;
        expect((await holder.tryAcquire({ key, token, ttlMs: 10_000 })).status).toBe('acquired');
        return { key, token };
      }),
    );
    const attempt = async (key: string) =>
      expect(
        (await listener.tryAcquire({ key, token: randomUUID(), ttlMs: 10_000, waitMs: 10_000 })).status,
      ).toBe('held');
    // The first attempt opens the subscriber connections; the next ones and their waits come in
    // while they connect.
    const stop = new AbortController();
    const early: Promise<void>[] = [];
    for (const key of keys) {
      await attempt(key);
      early.push(listener.released!(key, stop.signal));
      await sleep(1);
    }
    const channels = await eventually(
      () => Promise.all(admin.map((client) => client.pubsub('CHANNELS', `${prefix}wake:*`))),
      (perNode) => perNode.every((names) => names.length === 1),
      3_000,
    );
    expect(channels.map((names) => names.length)).toEqual(admin.map(() => 1));
    // Each key's release wakes the waiter, registered by its next attempt.
    let heard = 0;
    const waits: Promise<void>[] = [];
    for (const key of keys) {
      await attempt(key);
      waits.push(
        listener.released!(key, stop.signal).then(() => {
          if (!stop.signal.aborted) heard++;
        }),
      );
    }
    await Promise.all(held.map((lease) => holder.release(lease)));
    const bound = setTimeout(() => stop.abort(), 3_000);
    await Promise.all([...waits, ...early]);
    clearTimeout(bound);
    expect(heard).toBe(keys.length);
  });

  it('application instances in processes of their own each get their share of hot keys, every time they start', async () => {
    // Three rounds of four fresh instances: what starved an instance was a race at its start.
    for (let round = 0; round < 3; round++) {
      const prefix = uniqueKey(`processes-${round}`);
      const config = {
        urls,
        keys: Array.from({ length: 16 }, (_, i) => `${prefix}:hot-${i}`),
        workers: 16,
        // Count-based: the round ends when all of them together completed this many operations.
        total: 2_000,
        counter: `${prefix}:count`,
        prefix: `${prefix}:`,
      };
      const instances = Array.from({ length: 4 }, () => instance(config));
      try {
        expect(await Promise.all(instances.map((one) => one.line()))).toEqual(
          instances.map(() => ({ ready: true })),
        );
        for (const one of instances) one.go();
        const done = (await Promise.all(instances.map((one) => one.line()))).map((line) => line.ops ?? 0);
        await Promise.all(instances.map((one) => one.exited));
        const mean = done.reduce((sum, ops) => sum + ops, 0) / done.length;
        // Even shares would be 1; an instance that stopped hearing releases made 5–25 % of the mean.
        expect(
          Math.min(...done) / mean,
          `round ${round + 1}, operations per process: ${done.join(', ')}`,
        ).toBeGreaterThanOrEqual(0.5);
      } finally {
        for (const one of instances) one.child.kill('SIGKILL');
        await admin[0]!.del(config.counter);
      }
    }
  });
});
