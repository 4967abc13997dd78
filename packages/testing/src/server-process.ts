import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, MissingBinaryError } from './binary.js';
import { getFreePort } from './free-port.js';
import { guardProcessGroup, signal } from './guard.js';

/** Where a server listens and what it was started as, passed to `args` and `ready`. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** A temp dir of its own (data, logs), removed when the server stops. */
  readonly dir: string;
  /** The server's pid (only in `ready`, 0 in `args`). */
  readonly pid: number;
}

export interface StartServerOptions {
  /** Name used in messages, e.g. `redis-server`. */
  readonly name: string;
  /** Executable: a name looked up on PATH, or a path. */
  readonly command: string;
  readonly args: readonly string[] | ((address: ServerAddress) => readonly string[]);
  /** Fixed port. Default: a free port from the OS (and a new one if it was taken meanwhile). */
  readonly port?: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Resolves true once the server answers, and is the one we started (polled until then). */
  readonly ready: (address: ServerAddress) => Promise<boolean>;
  /** What to tell the user when `command` is not installed. */
  readonly installHint?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Longest wait for `ready`. Default 15 s. */
  readonly startTimeoutMs?: number;
  /** Grace period after SIGTERM before SIGKILL in `stop()`. Default 5 s. */
  readonly stopTimeoutMs?: number;
  /** Recognises "port already in use" in the server's output, to retry on another port. */
  readonly portInUse?: (output: string) => boolean;
}

export interface ServerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running server process, in its own process group. */
export interface ServerProcess {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** True until the process has exited. */
  readonly running: boolean;
  /** Settles when the process has exited. */
  readonly exited: Promise<ServerExit>;
  /** The server's stdout and stderr so far (the tail, up to 64 KiB). */
  output(): string;
  /** SIGTERM (SIGKILL after the grace period), waits for exit, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL now (a crash), waits for exit, removes the temp dir. */
  kill(): Promise<void>;
  /** SIGSTOP: the process stays, its sockets stay open, and it answers nothing. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
}

const POLL_MS = 20;
const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;

/**
 * Starts a server on a free loopback port and waits until `ready` says it answers. Rejects with
 * `MissingBinaryError` when the command is not installed, and with the server's output when it
 * exits or does not answer in time.
 */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const binary = findBinary(options.command);
  if (!binary) throw new MissingBinaryError(options.command, options.installHint);
  const attempts = options.port === undefined ? 5 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await getFreePort(options.host));
    try {
      return await startOnce(binary, port, options);
    } catch (error) {
      if (attempt >= attempts || !(error instanceof PortInUseError)) throw error;
    }
  }
}

class PortInUseError extends Error {}

async function startOnce(binary: string, port: number, options: StartServerOptions): Promise<ServerProcess> {
  const host = options.host ?? '127.0.0.1';
  const dir = await mkdtemp(join(tmpdir(), `leasekit-${options.name.replace(/[^\w-]/g, '')}-`));
  const logFile = join(dir, 'output.log');
  const args = typeof options.args === 'function' ? options.args({ host, port, dir, pid: 0 }) : options.args;
  const log = openSync(logFile, 'a');
  const child = spawn(binary, [...args], {
    cwd: dir,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exit: ServerExit | undefined;
  const exited = new Promise<ServerExit>((resolve) => {
    child.once('exit', (code, sig) => {
      exit = { code, signal: sig };
      resolve(exit);
    });
    child.once('error', () => {
      exit ??= { code: null, signal: null };
      resolve(exit);
    });
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`[leasekit] [testing] could not start ${options.name} (${binary})`);
  }
  const unguard = guardProcessGroup(pid, dir);
  const output = () => tail(logFile);

  let stopping: Promise<void> | undefined;
  const finish = async (first: NodeJS.Signals): Promise<void> => {
    if (exit === undefined) {
      signal(-pid, 'SIGCONT');
      signal(-pid, first);
      if (first !== 'SIGKILL') {
        const timer = setTimeout(() => signal(-pid, 'SIGKILL'), options.stopTimeoutMs ?? 5_000);
        await exited;
        clearTimeout(timer);
      } else {
        await exited;
      }
    }
    // The group may hold more than the leader (a wrapper script's children).
    signal(-pid, 'SIGKILL');
    unguard();
    await rm(dir, { recursive: true, force: true });
  };

  const server: ServerProcess = {
    name: options.name,
    host,
    port,
    pid,
    dir,
    get running() {
      return exit === undefined;
    },
    exited,
    output,
    stop: () => {
      stopping ??= finish('SIGTERM');
      return stopping;
    },
    kill: () => {
      stopping ??= finish('SIGKILL');
      return stopping;
    },
    pause: () => {
      signal(-pid, 'SIGSTOP');
    },
    resume: () => {
      signal(-pid, 'SIGCONT');
    },
  };

  const deadline = performance.now() + (options.startTimeoutMs ?? 15_000);
  const address: ServerAddress = { host, port, dir, pid };
  for (;;) {
    if (exit !== undefined) {
      const text = output();
      await server.stop();
      if ((options.portInUse ?? ((out: string) => ADDRESS_IN_USE.test(out)))(text)) {
        throw new PortInUseError(`port ${port} is in use`);
      }
      throw new Error(
        `[leasekit] [testing] ${options.name} exited during startup (${describeExit(exit)}); its output:\n${text}`,
      );
    }
    if (await options.ready(address).catch(() => false)) {
      if (exit === undefined) return server;
      continue;
    }
    if (performance.now() > deadline) {
      const text = output();
      await server.kill();
      throw new Error(
        `[leasekit] [testing] ${options.name} did not answer on ${host}:${port} within ${options.startTimeoutMs ?? 15_000} ms; its output:\n${text}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function describeExit(exit: ServerExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

function tail(file: string, max = 64 * 1024): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.length > max ? text.slice(-max) : text;
  } catch {
    return '';
  }
}
