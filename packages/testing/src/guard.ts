import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * No orphans: every server runs in its own process group, and
 * - on a normal exit of this process, every group still registered is killed synchronously;
 * - if this process dies without running exit handlers (SIGKILL, a crash, an unhandled signal),
 *   a tiny detached watchdog (`sh`) notices within half a second that its parent is gone,
 *   kills the server's process group and removes its temp dir.
 */
interface Guarded {
  readonly pgid: number;
  readonly dir: string;
  readonly watchdog: number | undefined;
}

const live = new Map<number, Guarded>();
let exitHookInstalled = false;

// $1 parent pid, $2 server process group, $3 the server's temp dir.
const WATCHDOG = [
  'while kill -0 "$1" 2>/dev/null; do',
  '  kill -0 -"$2" 2>/dev/null || exit 0',
  '  sleep 0.5',
  'done',
  'kill -KILL -"$2" 2>/dev/null',
  'rm -rf -- "$3"',
].join('\n');

/** Registers a server's process group; returns the function that unregisters it (after a normal stop). */
export function guardProcessGroup(pgid: number, dir: string): () => void {
  installExitHook();
  let watchdog: number | undefined;
  try {
    const child = spawn(
      '/bin/sh',
      ['-c', WATCHDOG, 'leasekit-watchdog', String(process.pid), String(pgid), dir],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    child.on('error', () => {});
    child.unref();
    watchdog = child.pid;
  } catch {
    // No /bin/sh: the exit hook still covers normal exits.
  }
  live.set(pgid, { pgid, dir, watchdog });
  return () => {
    const entry = live.get(pgid);
    live.delete(pgid);
    if (entry?.watchdog !== undefined) signal(entry.watchdog, 'SIGKILL');
  };
}

/** Sends `sig` to a process (or a group, with a negative pid); false when it no longer exists. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const entry of live.values()) {
      signal(-entry.pgid, 'SIGKILL');
      if (entry.watchdog !== undefined) signal(entry.watchdog, 'SIGKILL');
      try {
        rmSync(entry.dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    live.clear();
  });
}
