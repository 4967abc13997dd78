/** The `leasekit-loadtest` bin as a user runs it: built output (`./dev test` builds first). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

const run = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [main, ...args], { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

describe('leasekit-loadtest', () => {
  beforeAll(() => {
    // Not skipped: a missing build would hide every check below.
    if (!existsSync(main)) {
      throw new Error(`build first: ${main} is missing (./dev --filter @leasekit/loadtest run build)`);
    }
  });

  it("--help lists every option with the seed's defaults, and exits 0", async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: leasekit-loadtest/);
    expect(stdout).toMatch(/--batches N .*\(default 200;/);
    expect(stdout).toMatch(/--concurrency N .*\(default 20\)/);
    expect(stdout).toMatch(/--pause DURATION .*\(default 0\.1s\)/);
    for (const option of ['--url', '--items', '--quantity', '--duration', '--json', '--log', '--progress']) {
      expect(stdout).toContain(option);
    }
  });

  it('exits 2 on a bad option, naming what is allowed', async () => {
    const { code, stdout, stderr } = await run(['--concurrency', 'lots']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/--concurrency "lots": an integer from 1 to/);
  });

  it('exits 3 when the run cannot start (no order service answers), saying why', async () => {
    const { code, stderr } = await run(['--url', 'http://127.0.0.1:1', '--log', '-', '--progress', 'none']);
    expect(code).toBe(3);
    expect(stderr).toMatch(
      /^leasekit-loadtest: GET http:\/\/127\.0\.0\.1:1\/stock\/item1: .*ECONNREFUSED.* \(is the order service running at http:\/\/127\.0\.0\.1:1\?\)/,
    );
  });
});
