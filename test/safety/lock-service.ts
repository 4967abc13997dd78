/** The lock service (`leasekit-server`, apps/lock-service) as a process of its own, restartable on its port. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getFreePort, type ServerProcess, startServer } from '@leasekit/testing';

const main = join(
  dirname(createRequire(import.meta.url).resolve('@leasekit/lock-service/package.json')),
  'dist',
  'main.js',
);

export interface LockService {
  readonly url: string;
  readonly process: ServerProcess;
  /** SIGKILL, then the same service again on the same port. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startLockService(env: Record<string, string>): Promise<LockService> {
  const port = await getFreePort();
  const start = () =>
    startServer({
      name: 'leasekit-server',
      command: process.execPath,
      port,
      args: [main, '--insecure'],
      env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LEASEKIT_LOG_LEVEL: 'silent' },
      ready: async ({ host }) => {
        const response = await fetch(`http://${host}:${port}/readyz`, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        return response.ok;
      },
    });
  let current = await start();
  return {
    url: `http://127.0.0.1:${port}`,
    get process() {
      return current;
    },
    async restart(downMs) {
      await current.kill();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      current = await start();
    },
    async stop() {
      await current.stop();
    },
  };
}
