import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '@leasekit/core';

/**
 * The service's configuration, from environment variables only (plus `--insecure`), validated
 * once at start: a bad value stops the service with a message naming the variable and what it
 * allows. `CONFIG_VARIABLES` is the one list the README and a compose file are checked against.
 */

export type BackendKind = 'memory' | 'redis' | 'azure-blob' | 'dynamodb';
export const BACKEND_KINDS: readonly BackendKind[] = ['memory', 'redis', 'azure-blob', 'dynamodb'];
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ConfigVariable {
  readonly name: string;
  /** Default when unset, as text; `undefined`: none (required where its backend is chosen, or optional). */
  readonly default: string | undefined;
  readonly description: string;
}

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'PORT', default: '8080', description: 'TCP port to listen on (0: any free port)' },
  { name: 'HOST', default: '0.0.0.0', description: 'address to listen on' },
  {
    name: 'LEASEKIT_API_KEYS',
    default: undefined,
    description:
      'comma-separated tenant:key pairs; each key is a tenant (tenant: 1-64 of A-Z a-z 0-9 . _ -; key: 16-256 printable characters without , or whitespace)',
  },
  {
    name: 'LEASEKIT_INSECURE',
    default: '0',
    description: '1/true: run without API keys (every request is tenant "public"); same as --insecure',
  },
  { name: 'LEASEKIT_BACKEND', default: 'memory', description: 'memory | redis | azure-blob | dynamodb' },
  {
    name: 'LEASEKIT_REDIS_URLS',
    default: undefined,
    description: 'redis: comma-separated redis:// or rediss:// URLs of independent masters (1, 3 or 5)',
  },
  { name: 'LEASEKIT_REDIS_PREFIX', default: 'leasekit:', description: 'redis: namespace of every key' },
  {
    name: 'LEASEKIT_AZURE_CONNECTION_STRING',
    default: undefined,
    description: 'azure-blob: storage connection string (UseDevelopmentStorage=true for Azurite)',
  },
  {
    name: 'LEASEKIT_AZURE_CONTAINER',
    default: 'leasekit-locks',
    description: 'azure-blob: container of the lock blobs',
  },
  {
    name: 'LEASEKIT_DYNAMODB_TABLE',
    default: undefined,
    description: 'dynamodb: table name (schema: see @leasekit/dynamodb)',
  },
  {
    name: 'LEASEKIT_DYNAMODB_ENDPOINT',
    default: undefined,
    description: 'dynamodb: endpoint URL (DynamoDB Local); unset: AWS',
  },
  {
    name: 'LEASEKIT_DYNAMODB_REGION',
    default: 'us-east-1',
    description: 'dynamodb: AWS region (else AWS_REGION)',
  },
  {
    name: 'LEASEKIT_DYNAMODB_CREATE_TABLE',
    default: '0',
    description: 'dynamodb: 1/true: create the table at start if missing (needs CreateTable)',
  },
  {
    name: 'LEASEKIT_TOKEN_SECRET',
    default: undefined,
    description:
      'secret (32+ characters) deriving store tokens from Idempotency-Keys, the same on every instance over one store and kept across API-key changes; required unless LEASEKIT_BACKEND=memory (unset there: a random one per process)',
  },
  {
    name: 'LEASEKIT_SEED_ROUTES',
    default: 'on',
    description: "on | off: the seed service's POST /lock, /unlock, /refresh, GET /ttl",
  },
  { name: 'LEASEKIT_LOG_LEVEL', default: 'info', description: LOG_LEVELS.join(' | ') },
];

export type BackendConfig =
  | { readonly kind: 'memory' }
  | { readonly kind: 'redis'; readonly urls: readonly string[]; readonly prefix: string }
  | { readonly kind: 'azure-blob'; readonly connectionString: string; readonly container: string }
  | {
      readonly kind: 'dynamodb';
      readonly table: string;
      readonly endpoint: string | undefined;
      readonly region: string;
      readonly createTable: boolean;
    };

export interface ServiceConfig {
  readonly port: number;
  readonly host: string;
  /** API key → tenant. Empty only when `insecure`. */
  readonly apiKeys: ReadonlyMap<string, string>;
  /** No keys, by explicit choice: every request is tenant `public`. */
  readonly insecure: boolean;
  readonly backend: BackendConfig;
  /** HMAC key deriving store tokens from Idempotency-Keys. */
  readonly tokenSecret: string;
  /**
   * `tokenSecret` was not configured: a random one drawn for this process (memory backend only,
   * where one process is the whole service).
   */
  readonly tokenSecretGenerated: boolean;
  readonly seedRoutes: boolean;
  readonly logLevel: LogLevel;
}

/**
 * `LEASEKIT_TOKEN_SECRET`: required over a shared store. Every instance must derive the same
 * store token from an Idempotency-Key, for as long as any lease acquired with one is held; a
 * default derived from something else that changes (the API keys, when one is added or rotated)
 * would make every outstanding lease answer 410 on its next renew by Idempotency-Key. The memory
 * backend is one process: a random secret of its own is as good as any.
 */
function parseTokenSecret(env: Env, backend: BackendKind): { secret: string; generated: boolean } {
  const secret = read(env, 'LEASEKIT_TOKEN_SECRET');
  if (secret !== undefined) {
    if (secret.length < 32) {
      throw new ConfigError('LEASEKIT_TOKEN_SECRET', `must be at least 32 characters; got ${secret.length}`);
    }
    return { secret, generated: false };
  }
  if (backend !== 'memory') {
    throw new ConfigError(
      'LEASEKIT_TOKEN_SECRET',
      `is required with LEASEKIT_BACKEND=${backend}: every instance over the store must derive the same store tokens from Idempotency-Keys, so set one secret of 32+ characters (e.g. \`openssl rand -base64 32\`) on all of them and keep it when API keys change (a changed secret makes every lease renewed by Idempotency-Key answer 410)`,
    );
  }
  return { secret: randomBytes(32).toString('base64url'), generated: true };
}

/** A bad configuration value: `variable` names it, the message says what is allowed. */
export class ConfigError extends InvalidArgumentError {
  readonly variable: string;
  constructor(variable: string, detail: string) {
    super(`${variable}: ${detail}`, { operation: 'configure' });
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const API_KEY = /^[\x21-\x2b\x2d-\x7e]{16,256}$/; // printable ASCII without space and ','

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const value = read(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(name, `must be 1/true/on or 0/false/off; got ${JSON.stringify(env[name])}`);
}

function required(env: Env, name: string, backend: BackendKind): string {
  const value = read(env, name);
  if (value === undefined) throw new ConfigError(name, `is required with LEASEKIT_BACKEND=${backend}`);
  return value;
}

function parsePort(env: Env): number {
  const text = read(env, 'PORT') ?? '8080';
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65_535) {
    throw new ConfigError('PORT', `must be a whole number from 0 to 65535; got ${JSON.stringify(text)}`);
  }
  return port;
}

function parseApiKeys(env: Env): Map<string, string> {
  const keys = new Map<string, string>();
  const text = read(env, 'LEASEKIT_API_KEYS');
  if (text === undefined) return keys;
  for (const [index, pair] of text.split(',').entries()) {
    const entry = pair.trim();
    const colon = entry.indexOf(':');
    const tenant = colon > 0 ? entry.slice(0, colon) : '';
    const key = colon > 0 ? entry.slice(colon + 1) : '';
    if (!TENANT.test(tenant) || !API_KEY.test(key)) {
      throw new ConfigError(
        'LEASEKIT_API_KEYS',
        `entry ${index + 1} must be tenant:key (tenant: 1-64 of A-Z a-z 0-9 . _ -; key: 16-256 printable characters without ',' or spaces)`,
      );
    }
    if (keys.has(key))
      throw new ConfigError('LEASEKIT_API_KEYS', `entry ${index + 1} repeats an earlier key`);
    keys.set(key, tenant);
  }
  return keys;
}

function parseBackend(env: Env): BackendConfig {
  const kind = (read(env, 'LEASEKIT_BACKEND') ?? 'memory') as BackendKind;
  switch (kind) {
    case 'memory':
      return { kind };
    case 'redis': {
      const urls = required(env, 'LEASEKIT_REDIS_URLS', kind)
        .split(',')
        .map((url) => url.trim());
      for (const url of urls) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(url);
        } catch {
          parsed = undefined;
        }
        if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
          throw new ConfigError(
            'LEASEKIT_REDIS_URLS',
            `must be comma-separated redis://host:port or rediss://host:port URLs; got ${JSON.stringify(url)}`,
          );
        }
      }
      return { kind, urls, prefix: read(env, 'LEASEKIT_REDIS_PREFIX') ?? 'leasekit:' };
    }
    case 'azure-blob':
      return {
        kind,
        connectionString: required(env, 'LEASEKIT_AZURE_CONNECTION_STRING', kind),
        container: read(env, 'LEASEKIT_AZURE_CONTAINER') ?? 'leasekit-locks',
      };
    case 'dynamodb': {
      const endpoint = read(env, 'LEASEKIT_DYNAMODB_ENDPOINT');
      if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) {
        throw new ConfigError(
          'LEASEKIT_DYNAMODB_ENDPOINT',
          `must be an http(s):// URL; got ${JSON.stringify(endpoint)}`,
        );
      }
      return {
        kind,
        table: required(env, 'LEASEKIT_DYNAMODB_TABLE', kind),
        endpoint,
        region: read(env, 'LEASEKIT_DYNAMODB_REGION') ?? read(env, 'AWS_REGION') ?? 'us-east-1',
        createTable: flag(env, 'LEASEKIT_DYNAMODB_CREATE_TABLE', false),
      };
    }
    default:
      throw new ConfigError(
        'LEASEKIT_BACKEND',
        `must be one of ${BACKEND_KINDS.join(', ')}; got ${JSON.stringify(env.LEASEKIT_BACKEND)}`,
      );
  }
}

/**
 * Reads and validates the configuration. Throws `ConfigError` for the first bad variable, and
 * when no API key is configured unless the service is explicitly insecure (`--insecure` in
 * `argv`, or `LEASEKIT_INSECURE=1`).
 */
export function loadConfig(env: Env, argv: readonly string[] = []): ServiceConfig {
  for (const arg of argv) {
    if (arg !== '--insecure')
      throw new ConfigError('argv', `unknown argument ${JSON.stringify(arg)}; allowed: --insecure`);
  }
  const port = parsePort(env);
  const host = read(env, 'HOST') ?? '0.0.0.0';
  const apiKeys = parseApiKeys(env);
  const insecureAsked = argv.includes('--insecure') || flag(env, 'LEASEKIT_INSECURE', false);
  if (apiKeys.size === 0 && !insecureAsked) {
    throw new ConfigError(
      'LEASEKIT_API_KEYS',
      'no API key configured: set LEASEKIT_API_KEYS=tenant:key,... (keys of 16+ characters), or start with --insecure (LEASEKIT_INSECURE=1) to serve without authentication, for development only',
    );
  }
  const backend = parseBackend(env);
  const tokenSecret = parseTokenSecret(env, backend.kind);
  const seed = (read(env, 'LEASEKIT_SEED_ROUTES') ?? 'on').toLowerCase();
  if (seed !== 'on' && seed !== 'off') {
    throw new ConfigError(
      'LEASEKIT_SEED_ROUTES',
      `must be on or off; got ${JSON.stringify(env.LEASEKIT_SEED_ROUTES)}`,
    );
  }
  const logLevel = (read(env, 'LEASEKIT_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      'LEASEKIT_LOG_LEVEL',
      `must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(env.LEASEKIT_LOG_LEVEL)}`,
    );
  }
  return {
    port,
    host,
    apiKeys,
    insecure: apiKeys.size === 0,
    backend,
    tokenSecret: tokenSecret.secret,
    tokenSecretGenerated: tokenSecret.generated,
    seedRoutes: seed === 'on',
    logLevel,
  };
}
