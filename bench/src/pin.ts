/**
 * CPU pinning (and one bench at a time). On a machine with two or more cores the bench process re-executes itself under
 * `taskset -c 1` (the client core) and servers that scenarios start go on core 0, so client and
 * server never compete for one core and a run is repeatable. Scenarios that start servers use
 * `serverCommand` (wrap a command before spawning it) or `pinServer` (pin a process that some
 * other harness, such as @leasekit/testing, already started).
 */
import { execFile, spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Set by the parent on the re-executed child: `client=1,server=0`. */
const PIN_ENV = 'LEASEKIT_BENCH_PINNED';

export const CLIENT_CPU = 1;
export const SERVER_CPU = 0;

export interface Pinning {
  readonly active: boolean;
  readonly clientCpu?: number;
  readonly serverCpu?: number;
  /** Why pinning is on or off, for the report. */
  readonly detail: string;
}

/** The pinning in force in this process (set up by `reexecPinned` in the parent). */
export function currentPinning(): Pinning {
  const value = process.env[PIN_ENV];
  if (value) {
    const match = /^client=(\d+),server=(\d+)$/.exec(value);
    if (match) {
      const clientCpu = Number(match[1]);
      const serverCpu = Number(match[2]);
      return {
        active: true,
        clientCpu,
        serverCpu,
        detail: `client on CPU ${clientCpu}, servers on CPU ${serverCpu} (taskset)`,
      };
    }
  }
  return { active: false, detail: 'not pinned' };
}

/** Held (flock) by a running bench, so that two runs on one machine queue instead of disturbing each other. */
export const BENCH_LOCK = join(tmpdir(), 'leasekit-bench.lock');
/** Set on the re-executed child. */
const CHILD_ENV = 'LEASEKIT_BENCH_CHILD';
/** Exit code of `flock -E` when it gave up waiting. */
const LOCK_TIMEOUT_EXIT = 75;
const LOCK_WAIT_S = 900;

function has(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Re-executes this process (once) under `flock BENCH_LOCK` (one bench run at a time on this
 * machine: a second run waits up to 15 minutes) and, when `pin` and the machine has two cores
 * and `taskset`, under `taskset -c CLIENT_CPU`. Returns the child's exit code when it
 * re-executed (the caller exits with it), or notes on what it could not do.
 */
export function reexec(options: { pin: boolean }): { exitCode: number } | { notes: string[] } {
  if (process.env[CHILD_ENV]) return { notes: [] };
  const notes: string[] = [];
  const prefix: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: '1' };
  if (has('flock')) {
    if (spawnSync('flock', ['-n', BENCH_LOCK, 'true'], { stdio: 'ignore' }).status !== 0) {
      console.log(
        `another bench run holds ${BENCH_LOCK}: waiting for it to finish (at most ${LOCK_WAIT_S / 60} min)`,
      );
    }
    prefix.push('flock', '-w', String(LOCK_WAIT_S), '-E', String(LOCK_TIMEOUT_EXIT), BENCH_LOCK);
  } else {
    notes.push('flock not found (util-linux): concurrent bench runs are not serialized');
  }
  const cores = availableParallelism();
  if (!options.pin) notes.push('not pinned: --no-pin');
  else if (cores < 2) notes.push(`not pinned: one core (${cores})`);
  else if (!has('taskset')) notes.push('not pinned: taskset not found (util-linux)');
  else {
    prefix.push('taskset', '-c', String(CLIENT_CPU));
    env[PIN_ENV] = `client=${CLIENT_CPU},server=${SERVER_CPU}`;
  }
  if (prefix.length === 0) return { notes };
  for (const note of notes) console.log(`(${note})`);
  const child = spawnSync(
    prefix[0]!,
    [...prefix.slice(1), process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)],
    { stdio: 'inherit', env },
  );
  if (child.error) throw child.error;
  if (child.status === LOCK_TIMEOUT_EXIT && prefix[0] === 'flock') {
    console.error(`gave up after waiting ${LOCK_WAIT_S / 60} min for ${BENCH_LOCK}`);
  }
  return { exitCode: child.status ?? 1 };
}

/**
 * The command to spawn a server with: `taskset -c 0 <command> <args>` when the bench is pinned,
 * the command unchanged otherwise. Without it, a server spawned from the pinned bench process
 * would inherit the client's core.
 */
export function serverCommand(command: string, args: readonly string[]): { command: string; args: string[] } {
  const pinning = currentPinning();
  if (!pinning.active) return { command, args: [...args] };
  return { command: 'taskset', args: ['-c', String(pinning.serverCpu), command, ...args] };
}

/** Moves a running server (all its threads) to the server core; a no-op when the bench is not pinned. */
export async function pinServer(pid: number): Promise<void> {
  const pinning = currentPinning();
  if (!pinning.active) return;
  await run('taskset', ['-a', '-p', '-c', String(pinning.serverCpu), String(pid)]);
}
