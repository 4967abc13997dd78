import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

// The `leasekit-server` bin as an operator runs it: built output (`./dev test` builds first).
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

function run(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, [main, ...args], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('leasekit-server', () => {
  beforeAll(() => {
    // Not skipped: a missing build would hide every check below.
    if (!existsSync(main)) {
      throw new Error(
        `build first: ${main} is missing (./dev --filter @leasekit/lock-service... run build, or ./dev test, which builds)`,
      );
    }
  });

  it('refuses to start without API keys, naming the variable and --insecure', async () => {
    const server = run({});
    expect(await server.exited).toBe(2);
    expect(server.output().stderr).toMatch(/LEASEKIT_API_KEYS.*--insecure/);
  });

  it('refuses a bad variable with exit code 2', async () => {
    const server = run({ LEASEKIT_BACKEND: 'etcd' }, ['--insecure']);
    expect(await server.exited).toBe(2);
    expect(server.output().stderr).toMatch(
      /LEASEKIT_BACKEND: must be one of memory, redis, azure-blob, dynamodb/,
    );
  });

  it('with --insecure says so in every log line, and exits 0 on SIGTERM', async () => {
    const server = run({}, ['--insecure']);
    for (let tries = 0; tries < 200 && !server.output().stdout.includes('Server listening'); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const port = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(server.output().stdout)?.[1];
    expect(port).toBeDefined();
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', backend: 'memory', insecure: true });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const lines = server.output().stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(JSON.parse(line).insecure, line).toBe(true);
  });
});
