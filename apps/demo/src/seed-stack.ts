/**
 * The seed's demo as real processes: a lock service (memory or Redis backend), a database
 * (an embedded PGlite server, or a given PostgreSQL), and order-service instances over both.
 * Every process runs through `@leasekit/testing`'s `startServer`: its own process group, a free
 * port, a readiness check, and no orphans even if this process dies.
 */
import { randomBytes } from 'node:crypto';
import {
  getFreePort,
  type RedisServer,
  type ServerProcess,
  startRedisServers,
  startServer,
  stopAll,
} from '@leasekit/testing';
import { binPath } from './bins.js';
import { postgresReachable } from './scratch-database.js';

export interface SeedStackOptions {
  /** The lock service's backend. `redis`: over `redisUrls`, or 3 redis-server nodes started here. */
  readonly backend: 'memory' | 'redis';
  readonly redisUrls?: readonly string[];
  /** A PostgreSQL database URL; default: an embedded PGlite server started here. */
  readonly databaseUrl?: string;
  /** LOCKING of the order services (default true). */
  readonly locking?: boolean;
  /** Order-service instances (default 2). */
  readonly instances?: number;
  /** Extra environment of the order services (LOCK_TTL, LOCK_WAIT, ...). */
  readonly orderServiceEnv?: NodeJS.ProcessEnv;
}

export interface SeedStack {
  readonly lockServiceUrl: string;
  readonly databaseUrl: string;
  /** 'pglite' or 'postgres'. */
  readonly database: 'pglite' | 'postgres';
  readonly redisUrls: readonly string[];
  readonly orderServices: ReadonlyArray<{ readonly url: string; readonly instance: string }>;
  /** Each process's output so far, by name (for failures). */
  output(): string;
  /** Stops everything this stack started, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

// PGlite runs initdb in WebAssembly at each start, and Node loads each app's modules: on a busy
// two-core machine that can take well over the usual 15 s.
const START_TIMEOUT_MS = 60_000;

/** Ready when `path` answers 200 (and names `instance`, when given: not a neighbour on the port). */
const httpReady =
  (path: string, instance?: string) =>
  async ({ host, port }: { host: string; port: number }): Promise<boolean> => {
    try {
      const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(1_000) });
      const body = await response.text();
      return response.ok && (instance === undefined || body.includes(`"instance":"${instance}"`));
    } catch {
      return false;
    }
  };

function postgresReady({ host, port }: { host: string; port: number }): Promise<boolean> {
  return postgresReachable(`postgres://postgres@${host}:${port}/postgres`, 1_000);
}

export async function startSeedStack(options: SeedStackOptions): Promise<SeedStack> {
  const processes: ServerProcess[] = [];
  let redisServers: RedisServer[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const process of processes.reverse()) await process.stop().catch(() => {});
      await stopAll(redisServers).catch(() => {});
    })();
    return stopped;
  };
  const output = () => processes.map((p) => `--- ${p.name} ---\n${p.output()}`).join('\n');

  try {
    let redisUrls: readonly string[] = [];
    if (options.backend === 'redis') {
      if (options.redisUrls && options.redisUrls.length > 0) {
        redisUrls = options.redisUrls;
      } else {
        redisServers = await startRedisServers(3);
        redisUrls = redisServers.map((server) => server.url);
      }
    }

    const apiKey = randomBytes(24).toString('hex');
    // One token secret per demo run, given to every lock-service instance of the run: over a
    // shared store (--redis) the service requires it, and instances must agree on it (it derives
    // the store tokens of Idempotency-Key acquires, which any instance renews and releases).
    const tokenSecret = randomBytes(32).toString('base64url');
    // Processes that do not depend on each other start together (each start is mostly Node
    // loading modules); `started` keeps every one that came up, so a failure stops them all.
    const started = async (start: Promise<ServerProcess>[]): Promise<ServerProcess[]> => {
      const results = await Promise.allSettled(start);
      for (const result of results) if (result.status === 'fulfilled') processes.push(result.value);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      return results.map((result) => (result as PromiseFulfilledResult<ServerProcess>).value);
    };

    // The apps read their port from the environment, which is fixed before the spawn: pick it here.
    const lockServicePort = await getFreePort();
    const lockServiceUrl = `http://127.0.0.1:${lockServicePort}`;
    const startLockService = startServer({
      name: 'lock-service',
      command: process.execPath,
      args: [binPath('@leasekit/lock-service', 'leasekit-server')],
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(lockServicePort),
        LEASEKIT_BACKEND: options.backend,
        LEASEKIT_API_KEYS: `demo:${apiKey}`,
        LEASEKIT_TOKEN_SECRET: tokenSecret,
        LEASEKIT_LOG_LEVEL: 'warn',
        ...(options.backend === 'redis' ? { LEASEKIT_REDIS_URLS: redisUrls.join(',') } : {}),
      },
      port: lockServicePort,
      ready: httpReady('/readyz'),
      startTimeoutMs: START_TIMEOUT_MS,
    });
    const startDatabase =
      options.databaseUrl === undefined
        ? [
            startServer({
              name: 'pglite',
              command: process.execPath,
              args: ({ port }) => [
                binPath('@leasekit/order-service', 'leasekit-pglite-server'),
                '--port',
                String(port),
              ],
              ready: postgresReady,
              startTimeoutMs: START_TIMEOUT_MS,
            }),
          ]
        : [];
    const [, database] = await started([startLockService, ...startDatabase]);
    const databaseUrl = options.databaseUrl ?? `postgres://postgres@127.0.0.1:${database!.port}/postgres`;

    const orderServices = await Promise.all(
      Array.from({ length: options.instances ?? 2 }, async (_, i) => ({
        instance: `order-${String.fromCharCode(97 + i)}`,
        port: await getFreePort(),
      })),
    );
    await started(
      orderServices.map(({ instance, port }) =>
        startServer({
          name: instance,
          command: process.execPath,
          args: [binPath('@leasekit/order-service', 'leasekit-order-service')],
          env: {
            ...process.env,
            HOST: '127.0.0.1',
            PORT: String(port),
            DATABASE_URL: databaseUrl,
            LOCK_SERVICE_URL: lockServiceUrl,
            LOCK_SERVICE_API_KEY: apiKey,
            LOCKING: options.locking === false ? 'off' : 'on',
            INSTANCE_ID: instance,
            LOG_LEVEL: 'warn',
            ...options.orderServiceEnv,
          },
          port,
          ready: httpReady('/healthz', instance),
          startTimeoutMs: START_TIMEOUT_MS,
        }),
      ),
    );

    return {
      lockServiceUrl,
      databaseUrl,
      database: options.databaseUrl === undefined ? 'pglite' : 'postgres',
      redisUrls,
      orderServices: orderServices.map(({ instance, port }) => ({
        url: `http://127.0.0.1:${port}`,
        instance,
      })),
      output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
