import { redisUrlsFromEnv } from '../env.js';
import { type RedisServer, type RedisServerOptions, startRedisServers, stopAll } from '../redis.js';

import { type ProvideFor, type ServerGlobalSetup, serverGlobalSetup } from './server-setup.js';

export type ProvideContext = ProvideFor<'leasekitRedisUrls', string[]>;
export type GlobalSetup = ServerGlobalSetup<'leasekitRedisUrls', string[]>;

export interface RedisGlobalSetupOptions extends RedisServerOptions {
  /** How many independent servers to start. Default 3. Ignored when `LEASEKIT_REDIS_URLS` is set. */
  readonly count?: number;
}

/**
 * A vitest global setup that starts `count` redis-server processes (or uses `LEASEKIT_REDIS_URLS`)
 * and provides their URLs to tests, which read them with `redisUrls()` or `inject('leasekitRedisUrls')`.
 *
 * ```ts
 * // test/global-setup.ts
 * export default redisGlobalSetup({ count: 5 });
 * ```
 */
export function redisGlobalSetup(options: RedisGlobalSetupOptions = {}): GlobalSetup {
  return serverGlobalSetup({
    key: 'leasekitRedisUrls',
    fromEnv: redisUrlsFromEnv,
    start: async (): Promise<{ servers: RedisServer[]; stop(): Promise<void> }> => {
      const servers = await startRedisServers(options.count ?? 3, options);
      return { servers, stop: () => stopAll(servers) };
    },
    address: ({ servers }) => servers.map((server) => server.url),
  });
}
