import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  findBinary,
  getFreePort,
  isPortFree,
  MissingBinaryError,
  redisCommand,
  redisPing,
  startRedisServer,
  startRedisServers,
  startServer,
} from '../src/index.js';

const hasRedis = findBinary(process.env.LEASEKIT_REDIS_SERVER ?? 'redis-server') !== undefined;

describe('getFreePort', () => {
  it('returns a loopback port nothing listens on', async () => {
    const port = await getFreePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
    expect(await isPortFree(port)).toBe(true);
  });
});

describe.skipIf(!hasRedis)('redis-server', () => {
  it('starts on a free port, answers PING over raw TCP, and stop() frees the port', async () => {
    const server = await startRedisServer();
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(server.running).toBe(true);
      expect(await redisPing(server.host, server.port)).toBe(true);
      expect(await redisCommand(server.host, server.port, 'INFO server')).toContain(
        `process_id:${server.pid}`,
      );
      // No persistence: nothing is saved, nothing appended.
      expect(await redisCommand(server.host, server.port, 'CONFIG GET save')).toBe(
        '*2\r\n$4\r\nsave\r\n$0\r\n\r\n',
      );
      expect(await isPortFree(server.port)).toBe(false);
    } finally {
      await server.stop();
    }
    expect(server.running).toBe(false);
    expect(await isPortFree(server.port)).toBe(true);
    expect(existsSync(server.dir)).toBe(false);
    await server.stop(); // idempotent
  });

  it('pause() makes it silent with the socket still open, resume() brings it back', async () => {
    const server = await startRedisServer();
    try {
      server.pause();
      await expect(redisCommand(server.host, server.port, 'PING', 200)).rejects.toThrow(/no answer/);
      server.resume();
      expect(await redisPing(server.host, server.port)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('stop() works on a paused server, kill() is a crash', async () => {
    const [a, b] = await startRedisServers(2);
    a!.pause();
    await a!.stop();
    expect(await a!.exited).toEqual({ code: 0, signal: null }); // a clean shutdown on SIGTERM
    await b!.kill();
    expect(await b!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await isPortFree(b!.port)).toBe(true);
  });

  it('starts several independent servers on distinct ports', async () => {
    const servers = await startRedisServers(3);
    try {
      expect(new Set(servers.map((server) => server.port)).size).toBe(3);
      for (const server of servers) expect(await redisPing(server.host, server.port)).toBe(true);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  });

  // The child runs the TypeScript sources directly: Node's type stripping and module.registerHooks (Node >= 23.6).
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const canRunSources = major > 23 || (major === 23 && minor >= 6);
  it.skipIf(!canRunSources)(
    'leaves no server behind when the process that started it is SIGKILLed',
    async () => {
      const { spawn } = await import('node:child_process');
      const src = new URL('../src/redis.ts', import.meta.url).href;
      // Node 24 strips types; the hook maps the sources' `.js` specifiers to their `.ts` files.
      const script = `
      import { registerHooks } from 'node:module';
      registerHooks({ resolve(specifier, context, next) {
        try { return next(specifier, context); }
        catch (error) { if (specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context); throw error; }
      } });
      const { startRedisServer } = await import(${JSON.stringify(src)});
      const server = await startRedisServer();
      console.log(JSON.stringify({ pid: server.pid, port: server.port, dir: server.dir }));
      setInterval(() => {}, 1000);
    `;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((resolve, reject) => {
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('\n')) resolve(text.trim());
        });
        child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
      });
      const started = JSON.parse(line) as { pid: number; port: number; dir: string };
      expect(alive(started.pid)).toBe(true);
      child.kill('SIGKILL');
      const deadline = Date.now() + 5_000;
      while (alive(started.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(alive(started.pid)).toBe(false);
      while (existsSync(started.dir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(started.dir)).toBe(false);
      expect(await isPortFree(started.port)).toBe(true);
    },
  );
});

describe('missing binaries and failed starts', () => {
  it('names the missing binary and how to install it', async () => {
    const error = await startRedisServer({ command: 'leasekit-no-such-redis-server' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MissingBinaryError);
    expect((error as MissingBinaryError).binary).toBe('leasekit-no-such-redis-server');
    const message = (error as Error).message;
    expect(message).toContain('leasekit-no-such-redis-server not found on PATH');
    expect(message).toContain('apt-get install redis-server');
    expect(message).toContain('brew install redis');
    expect(message).toContain('LEASEKIT_REDIS_URLS');
  });

  it('reports the output of a server that exits during startup', async () => {
    const start = startServer({
      name: 'failing-server',
      command: 'sh',
      args: ['-c', 'echo "cannot start: bad config" >&2; exit 3'],
      ready: async () => false,
    });
    await expect(start).rejects.toThrow(
      /failing-server exited during startup \(exit code 3\)[\s\S]*bad config/,
    );
  });

  it('gives up on a server that never answers, and kills it', async () => {
    let pid = 0;
    const start = startServer({
      name: 'silent-server',
      command: 'sleep',
      args: ['30'],
      startTimeoutMs: 300,
      ready: async (address) => {
        pid = address.pid;
        return false;
      },
    });
    await expect(start).rejects.toThrow(/silent-server did not answer on 127\.0\.0\.1:\d+ within 300 ms/);
    expect(alive(pid)).toBe(false);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
