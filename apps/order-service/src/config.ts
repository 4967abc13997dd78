/**
 * The order service's configuration: one schema of environment variables, validated at start.
 * The README's table and the compose file are checked against `ORDER_SERVICE_ENV`.
 */
import { hostname } from 'node:os';
import { InvalidArgumentError, toMs } from '@leasekit/core';

export interface OrderServiceConfig {
  readonly host: string;
  readonly port: number;
  /** `postgres://…`; undefined: main starts an embedded PGlite served over the wire protocol. */
  readonly databaseUrl: string | undefined;
  /** Connections in this instance's pg Pool. */
  readonly databasePoolMax: number;
  /** Seed the seed's four items (item1 100, item2 200, item3 150, item4 300) when absent. */
  readonly seedItems: boolean;
  readonly lockServiceUrl: string;
  readonly lockServiceApiKey: string | undefined;
  /** false: no lock and an unfenced read-then-write: the control run that oversells. */
  readonly locking: boolean;
  readonly lockTtlMs: number;
  readonly lockWaitMs: number;
  /** Prefix of the lock key of an item (`inventory:item1`). */
  readonly lockKeyPrefix: string;
  /** Name recorded with each order and answered in each response. */
  readonly instance: string;
  readonly logLevel: string;
}

interface Variable {
  readonly description: string;
  readonly default?: string;
}

/** Every environment variable the order service reads, with its default. */
export const ORDER_SERVICE_ENV_SCHEMA: Readonly<Record<string, Variable>> = {
  HOST: { description: 'interface to listen on', default: '127.0.0.1' },
  PORT: { description: 'port to listen on (0: any free port)', default: '9090' },
  DATABASE_URL: { description: 'PostgreSQL URL; unset: an embedded PGlite on a free loopback port' },
  DATABASE_POOL_MAX: { description: 'connections in the pg Pool', default: '10' },
  SEED_ITEMS: { description: "on: insert the seed's items (item1..item4) when absent", default: 'on' },
  LOCK_SERVICE_URL: { description: 'base URL of the lock service', default: 'http://127.0.0.1:8181' },
  LOCK_SERVICE_API_KEY: { description: 'API key for the lock service (Bearer); unset: none sent' },
  LOCKING: {
    description: 'on: orders under the lock with fenced writes; off: no lock (oversells)',
    default: 'on',
  },
  LOCK_TTL: { description: "the lock's TTL (a duration: 250ms, 2s)", default: '2s' },
  LOCK_WAIT: {
    description: 'how long the lock service may hold an order waiting for the lock',
    default: '5s',
  },
  LOCK_KEY_PREFIX: { description: 'prefix of the lock key of an item', default: 'inventory:' },
  INSTANCE_ID: { description: 'name of this instance in orders and responses', default: '<hostname>-<pid>' },
  LOG_LEVEL: { description: 'pino level: fatal, error, warn, info, debug, trace, silent', default: 'info' },
};

export const ORDER_SERVICE_ENV: readonly string[] = Object.keys(ORDER_SERVICE_ENV_SCHEMA);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads and validates the environment; every problem is listed in one `InvalidArgumentError`. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): OrderServiceConfig {
  const problems: string[] = [];
  const read = (name: string): string => {
    const value = env[name];
    return value === undefined || value === '' ? (ORDER_SERVICE_ENV_SCHEMA[name]?.default ?? '') : value;
  };
  const optional = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const integer = (name: string, min: number, max: number): number => {
    const raw = read(name);
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: an integer from ${min} to ${max}`);
      return min;
    }
    return value;
  };
  const onOff = (name: string): boolean => {
    const raw = read(name).toLowerCase();
    if (raw !== 'on' && raw !== 'off') {
      problems.push(`${name}=${JSON.stringify(read(name))}: on or off`);
      return true;
    }
    return raw === 'on';
  };
  const duration = (name: string, min: number, max: number): number => {
    const raw = read(name);
    try {
      const ms = toMs(/^\d+$/.test(raw) ? Number(raw) : (raw as `${number}ms`), name);
      if (ms >= min && ms <= max) return ms;
    } catch {}
    problems.push(`${name}=${JSON.stringify(raw)}: a duration from ${min}ms to ${max}ms (e.g. 250ms, 2s)`);
    return min;
  };
  const url = (name: string, protocols: readonly string[], value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    try {
      if (protocols.includes(new URL(value).protocol)) return value;
    } catch {}
    problems.push(`${name}: a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
    return undefined;
  };

  const logLevel = read('LOG_LEVEL');
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: one of ${LOG_LEVELS.join(', ')}`);
  const lockKeyPrefix = read('LOCK_KEY_PREFIX');
  if (!/^[A-Za-z0-9._:~-]{0,50}$/.test(lockKeyPrefix)) {
    problems.push(`LOCK_KEY_PREFIX: at most 50 of A-Z a-z 0-9 . _ : ~ -`);
  }
  const config: OrderServiceConfig = {
    host: read('HOST'),
    port: integer('PORT', 0, 65_535),
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:'], optional('DATABASE_URL')),
    databasePoolMax: integer('DATABASE_POOL_MAX', 1, 1_000),
    seedItems: onOff('SEED_ITEMS'),
    lockServiceUrl: url('LOCK_SERVICE_URL', ['http:', 'https:'], read('LOCK_SERVICE_URL')) ?? '',
    lockServiceApiKey: optional('LOCK_SERVICE_API_KEY'),
    locking: onOff('LOCKING'),
    lockTtlMs: duration('LOCK_TTL', 10, 60_000),
    lockWaitMs: duration('LOCK_WAIT', 0, 30_000),
    lockKeyPrefix,
    instance: optional('INSTANCE_ID') ?? `${hostname()}-${process.pid}`,
    logLevel,
  };
  if (problems.length > 0) {
    throw new InvalidArgumentError(`invalid environment: ${problems.join('; ')}`, { operation: 'configure' });
  }
  return config;
}
