/**
 * One worker process of the multi-process scenario: sets one Redis lock contender up (its own
 * locker or clients, as one application instance would), then runs its workers for each round
 * the parent asks for and reports every operation's wait and latency. Messages in: `{ round }`,
 * `{ stop }`; out: `{ ready }`, `{ report }`, `{ failed }`.
 */
import { cpuUsage } from 'node:process';
import { redisLockContenders } from './scenarios/redis.js';
import { SampleBuffer, seededRandom } from './stats.js';
import type { OpContext } from './types.js';

export interface WorkerConfig {
  readonly contender: string;
  readonly urls: readonly string[];
  /** This process's index: its workers' key streams differ from the other processes'. */
  readonly index: number;
  readonly workers: number;
  readonly keys: number;
  readonly holdMs: number;
}

export type WorkerMessage =
  | { readonly ready: true }
  | { readonly report: WorkerReport }
  | { readonly failed: string };

export interface WorkerReport {
  readonly ops: number;
  readonly opsInWindow: number;
  readonly failures: number;
  readonly errors: readonly string[];
  readonly op: Float64Array;
  readonly wait: Float64Array;
  readonly cpuMicros: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Op implements OpContext {
  key = '';
  seq = 0;
  start = 0;
  held = false;
  readonly worker: number;
  readonly holdMs: number;
  readonly #waits: SampleBuffer;

  constructor(worker: number, holdMs: number, waits: SampleBuffer) {
    this.worker = worker;
    this.holdMs = holdMs;
    this.#waits = waits;
  }

  hold(): Promise<void> | undefined {
    if (this.held) return undefined;
    this.held = true;
    this.#waits.push(performance.now() - this.start);
    return this.holdMs > 0 ? sleep(this.holdMs) : undefined;
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as WorkerConfig;
  const contender = redisLockContenders.get(config.contender);
  if (!contender) throw new Error(`no Redis lock contender named ${config.contender}`);
  const keys = Array.from({ length: config.keys }, (_, i) => `bench:mp-hot${i}`);
  const state = await contender.setup(
    { servers: [], urls: config.urls },
    { quick: false, log: (message) => console.log(message) },
  );

  const round = async (durationMs: number, seed: number): Promise<WorkerReport> => {
    const op = new SampleBuffer();
    const wait = new SampleBuffer();
    const errors = new Set<string>();
    let failures = 0;
    let inWindow = 0;
    const cpuBefore = cpuUsage();
    const endAt = performance.now() + durationMs;
    const loop = async (worker: number) => {
      const ctx = new Op(worker, config.holdMs, wait);
      const random = seededRandom(seed + config.index * 0x27d4eb2d + worker * 0x85ebca6b);
      for (let seq = 0; performance.now() < endAt; seq++) {
        ctx.key = keys[Math.floor(random() * keys.length)]!;
        ctx.seq = seq;
        ctx.held = false;
        ctx.start = performance.now();
        let ok: boolean;
        try {
          ok = (await contender.run(state, ctx)) !== false;
          if (!ok && errors.size < 3) errors.add('run returned false');
        } catch (error) {
          ok = false;
          if (errors.size < 3)
            errors.add(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        }
        const end = performance.now();
        op.push(end - ctx.start);
        if (end <= endAt) inWindow++;
        if (!ok) failures++;
      }
    };
    await Promise.all(Array.from({ length: config.workers }, (_, worker) => loop(worker)));
    const cpu = cpuUsage(cpuBefore);
    return {
      ops: op.length,
      opsInWindow: inWindow,
      failures,
      errors: [...errors],
      op: op.toArray(),
      wait: wait.toArray(),
      cpuMicros: cpu.user + cpu.system,
    };
  };

  const send = (message: WorkerMessage) => process.send!(message);
  process.on('message', (message: { round?: { durationMs: number; seed: number }; stop?: true }) => {
    if (message.round) {
      round(message.round.durationMs, message.round.seed).then(
        (report) => send({ report }),
        (error: unknown) => send({ failed: String(error) }),
      );
    } else if (message.stop) {
      Promise.resolve(contender.teardown?.(state)).finally(() => process.disconnect());
    }
  });
  send({ ready: true });
}

main().catch((error: unknown) => {
  process.send?.({ failed: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
});
