/** Three throwaway redis-server nodes for one scenario, optionally each behind a fault proxy. */
import { type RedisServer, redisCommand, startRedisServer, startRedisServers } from '@leasekit/testing';
import { FaultProxy } from './proxy.js';

export interface RedisCluster {
  readonly servers: RedisServer[];
  readonly proxies: FaultProxy[];
  /** What clients connect to: the proxies' addresses when there are proxies. */
  readonly urls: string[];
  /** DEL of the lock key of `key` on node i (what an early expiry, e.g. a clock jump, does). */
  expireLockKey(i: number, prefix: string, key: string): Promise<void>;
  /** Node i dies and a new, empty one takes its place behind its proxy. */
  restartEmpty(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(withProxies: boolean): Promise<RedisCluster> {
  const servers = await startRedisServers(3);
  const proxies = withProxies
    ? await Promise.all(servers.map((s) => new FaultProxy(s.host, s.port).listen()))
    : [];
  return {
    servers,
    proxies,
    urls: withProxies ? proxies.map((p) => `redis://127.0.0.1:${p.port}`) : servers.map((s) => s.url),
    async expireLockKey(i, prefix, key) {
      const server = servers[i];
      if (server?.running) await redisCommand(server.host, server.port, `DEL ${prefix}{${key}}`, 500);
    },
    async restartEmpty(i) {
      const proxy = proxies[i];
      if (!proxy) throw new Error('restartEmpty needs proxies');
      await servers[i]?.kill();
      proxy.dropConnections();
      const fresh = await startRedisServer();
      servers[i] = fresh;
      proxy.retarget(fresh.port);
    },
    async stop() {
      await Promise.all(proxies.map((p) => p.close()));
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
