/**
 * Worker processes run from this package's own bin with `--json`, their events read line by
 * line: what the demo and the tests drive. Killing is by the child's own pid only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerEvent } from './events.js';

// The built bin, whether this module runs from dist/ (the demo) or from src/ (the tests).
export const MAIN_PATH: string = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export interface TimedEvent {
  readonly at: number;
  readonly event: WorkerEvent;
}

export interface WorkerProcess {
  readonly id: string;
  readonly child: ChildProcess;
  /** Every event so far, with `Date.now()` when it was read. */
  readonly events: TimedEvent[];
  /** Resolves with the first event (past or future) that matches; rejects if the process exits first. */
  waitFor(match: (event: WorkerEvent) => boolean): Promise<TimedEvent>;
  /** Exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  stderr(): string;
}

export interface SpawnOptions {
  readonly id: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly onEvent?: (event: WorkerEvent, at: number) => void;
}

export function spawnWorker(options: SpawnOptions): WorkerProcess {
  const child = spawn(
    process.execPath,
    [MAIN_PATH, 'run', '--json', '--worker-id', options.id, ...options.args],
    {
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const events: TimedEvent[] = [];
  const waiters = new Set<{ match: (event: WorkerEvent) => boolean; resolve: (event: TimedEvent) => void }>();
  let errText = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    errText += chunk;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const event = JSON.parse(line) as WorkerEvent;
    const timed = { at: Date.now(), event };
    events.push(timed);
    options.onEvent?.(event, timed.at);
    for (const waiter of waiters) {
      if (waiter.match(event)) {
        waiters.delete(waiter);
        waiter.resolve(timed);
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return {
    id: options.id,
    child,
    events,
    exited,
    stderr: () => errText,
    waitFor(match) {
      const past = events.find((timed) => match(timed.event));
      if (past) return Promise.resolve(past);
      return new Promise<TimedEvent>((resolve, reject) => {
        waiters.add({ match, resolve });
        exited.then((code) =>
          reject(
            new Error(
              `worker ${options.id} exited (${code}) before the awaited event: ${errText.slice(-2000)}`,
            ),
          ),
        );
      });
    },
  };
}
