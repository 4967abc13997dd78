import { ENV } from './env.js';
import { redisCommand } from './resp.js';
import { type ServerProcess, type StartServerOptions, startServer } from './server-process.js';

export interface RedisServer extends ServerProcess {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
}

export interface RedisServerOptions {
  /** Executable. Default: `$LEASEKIT_REDIS_SERVER`, else `redis-server` on PATH. */
  readonly command?: string;
  /** Extra arguments, appended after leasekit's own. */
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

export const REDIS_INSTALL_HINT: string = `install it with \`apt-get install redis-server\` (Debian/Ubuntu) or \`brew install redis\`, or set ${ENV.redis} to use running servers`;

/**
 * Starts one throwaway `redis-server` on a free loopback port: no persistence (`--save ""
 * --appendonly no`), its own temp `--dir`, ready once it answers PING and reports our pid.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const config: StartServerOptions = {
    name: 'redis-server',
    command: options.command ?? process.env.LEASEKIT_REDIS_SERVER ?? 'redis-server',
    args: ({ host, port, dir }) => [
      '--port',
      String(port),
      '--bind',
      host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...(options.args ?? []),
    ],
    // INFO's process_id proves the port is served by the process we started, not a neighbour.
    ready: async ({ host, port, pid }) => {
      const info = await redisCommand(host, port, 'INFO server', 500);
      return new RegExp(`^process_id:${pid}\\s*$`, 'm').test(info);
    },
    installHint: REDIS_INSTALL_HINT,
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
  };
  const server = await startServer(config);
  return Object.assign(server, { url: `redis://${server.host}:${server.port}` });
}

/** Starts `count` independent servers in parallel; if one fails, the others are stopped. */
export async function startRedisServers(
  count: number,
  options: RedisServerOptions = {},
): Promise<RedisServer[]> {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`count must be a positive integer; got ${count}`);
  const results = await Promise.allSettled(Array.from({ length: count }, () => startRedisServer(options)));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) {
    await stopAll(results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])));
    throw failed.reason;
  }
  return results.map((result) => (result as PromiseFulfilledResult<RedisServer>).value);
}

/** Stops every server (in parallel). */
export async function stopAll(servers: readonly ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((server) => server.stop()));
}
