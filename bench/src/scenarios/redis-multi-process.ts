/**
 * Hot keys shared by several application instances: P worker processes, each with its own
 * locker (or its own clients, for the floor and the peers), run the hot-key workload of
 * `redis/hot-key` against three redis-server processes. What one process cannot show: whether
 * the lock is fair across processes (the `fairness` column is per process here), and what a
 * hand-over between processes costs. Each contender runs exactly its `redis.ts` code, in the
 * worker processes (`multi-process-worker.ts`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { WorkerConfig, WorkerMessage, WorkerReport } from '../multi-process-worker.js';
import { defineScenario } from '../registry.js';
import type { Contender, RoundReport, Scenario } from '../types.js';
import { type RedisEnv, redisLockContenders, startRedis, stopRedis } from './redis.js';

const PROCESSES = 5;
const WORKERS_PER_PROCESS = 10;
const KEYS = 5;
const HOLD_MS = 1;
const WORKER_SCRIPT = new URL('../multi-process-worker.js', import.meta.url);

interface Processes {
  readonly env: RedisEnv;
  readonly children: readonly ChildProcess[];
}

/** The next message of `child` (a report, ready, or a failure, which rejects). */
function nextMessage(child: ChildProcess): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorkerMessage) => {
      cleanup();
      if ('failed' in message) reject(new Error(`worker process: ${message.failed}`));
      else resolve(message);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`worker process exited (${code})`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

function processContender(name: string): Contender<RedisEnv, Processes> {
  const inProcess = redisLockContenders.get(name);
  if (!inProcess) throw new Error(`no Redis lock contender named ${name}`);
  return {
    name,
    role: inProcess.role,
    note: `in each of the ${PROCESSES} worker processes, as in the single-process hot-key scenario: ${inProcess.note ?? ''}`,
    async setup(env) {
      const children = Array.from({ length: PROCESSES }, (_, index) => {
        const config: WorkerConfig = {
          contender: name,
          urls: env.urls,
          index,
          workers: WORKERS_PER_PROCESS,
          keys: KEYS,
          holdMs: HOLD_MS,
        };
        // Warnings (a node without AOF, per process) would only repeat the other scenarios'.
        return fork(WORKER_SCRIPT, [JSON.stringify(config)], {
          serialization: 'advanced',
          execArgv: ['--no-warnings'],
        });
      });
      try {
        await Promise.all(children.map(nextMessage));
      } catch (error) {
        for (const child of children) child.kill();
        throw error;
      }
      return { env, children };
    },
    run() {
      throw new Error('runs in worker processes (runRound)');
    },
    async runRound(state, round): Promise<RoundReport> {
      const reports = await Promise.all(
        state.children.map((child) => {
          const report = nextMessage(child);
          child.send({ round });
          return report.then((message) => (message as { report: WorkerReport }).report);
        }),
      );
      const join = (arrays: Float64Array[]) => {
        const all = new Float64Array(arrays.reduce((sum, array) => sum + array.length, 0));
        let at = 0;
        for (const array of arrays) {
          all.set(array, at);
          at += array.length;
        }
        return all;
      };
      return {
        opsInWindow: reports.reduce((sum, report) => sum + report.opsInWindow, 0),
        failures: reports.reduce((sum, report) => sum + report.failures, 0),
        errors: [...new Set(reports.flatMap((report) => report.errors))],
        op: join(reports.map((report) => report.op)),
        wait: join(reports.map((report) => report.wait)),
        perProcess: reports.map((report) => report.ops),
        cpuMicros: reports.reduce((sum, report) => sum + report.cpuMicros, 0),
      };
    },
    async teardown(state) {
      await Promise.all(
        state.children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.send({ stop: true });
              setTimeout(() => child.kill(), 10_000).unref();
            }),
        ),
      );
    },
    serverPids: (state) => state.env.servers.map((server) => server.pid),
  };
}

export const redisMultiProcessScenarios: readonly Scenario<RedisEnv>[] = [
  defineScenario<RedisEnv>({
    id: 'redis/multi-process-hot-keys',
    title: `multi-process hot keys: ${PROCESSES} processes × ${WORKERS_PER_PROCESS} workers on ${KEYS} keys, ${HOLD_MS} ms hold (Redis, 3 nodes)`,
    description: `${PROCESSES} worker processes (application instances), each with its own locker or clients and ${WORKERS_PER_PROCESS} workers, take a key drawn from ${KEYS}, hold it ${HOLD_MS} ms and release it: hand-overs per second (ops/s), the wait for the lock (p50/p99/max) and fairness per process (the operations of the process that completed fewest over the mean per process, lowest of the rounds). Targets: fairness at least 0.8 in every round, hand-overs/s at least 1.5× the best peer, wait p99 at most half the best peer's.`,
    load: { mode: 'throughput', workers: PROCESSES * WORKERS_PER_PROCESS, durationMs: 4000 },
    holdMs: HOLD_MS,
    latency: 'wait',
    setup: () => startRedis(),
    teardown: stopRedis,
    contenders: [...redisLockContenders.keys()].map(processContender),
  }),
];
