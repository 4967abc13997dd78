/**
 * Command-line and environment parsing: one function per command, each returning a typed,
 * validated config or throwing a `ConfigError` that names the option and what it accepts.
 * No I/O here: `main` reads `process.argv`/`process.env` and hands them in.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { type Duration, toMs } from '@leasekit/core';

export type Backend = 'azure' | 'redis' | 'dynamodb';
export const BACKENDS: readonly Backend[] = ['azure', 'redis', 'dynamodb'];
export type TransformName = 'gzip' | 'identity';
export const TRANSFORMS: readonly TransformName[] = ['gzip', 'identity'];

/** The environment variables the worker reads (the README lists the same). */
export const ENV = {
  connectionString: 'AZURE_STORAGE_CONNECTION_STRING',
  redisUrls: 'BLOB_WORKER_REDIS_URLS',
  dynamodbEndpoint: 'BLOB_WORKER_DYNAMODB_ENDPOINT',
  dynamodbTable: 'BLOB_WORKER_DYNAMODB_TABLE',
} as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'INVALID_ARGUMENT';
}

export interface StorageConfig {
  readonly connectionString: string;
  readonly input: string;
  readonly output: string;
}

export interface RunConfig {
  readonly command: 'run';
  readonly storage: StorageConfig;
  readonly backend: Backend;
  /** `false`: the control run with no lease at all (duplicates expected). */
  readonly lease: boolean;
  /** Fencing tokens from the lease store (Azure: metadata on the work item). */
  readonly fencing: boolean;
  readonly ttlMs: number;
  readonly workerId: string;
  readonly transform: TransformName;
  /** Failures of one blob before it is marked failed. */
  readonly maxAttempts: number;
  /** Pause between passes while blobs remain that others hold. */
  readonly pollMs: number;
  /** Extra time each blob's processing takes (a slow transform): for demos and tests. */
  readonly paceMs: number;
  /** Keep polling for new blobs after the container is done. */
  readonly watch: boolean;
  /** After the first stop signal, how long the current blob may take before it is abandoned. */
  readonly drainMs: number;
  readonly json: boolean;
  readonly redisUrls: readonly string[];
  readonly dynamodb: { readonly endpoint: string | undefined; readonly table: string };
}

export interface SeedConfig {
  readonly command: 'seed';
  readonly storage: StorageConfig;
  readonly count: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  /** How many of the blobs are marked to make the transform throw. */
  readonly failing: number;
  /** How many of the blobs are marked to make processing kill the worker process. */
  readonly crashing: number;
  readonly prefix: string;
  readonly json: boolean;
}

export interface DemoConfig {
  readonly command: 'demo';
  readonly blobs: number;
  readonly workers: number;
  readonly json: boolean;
}

export type Config = RunConfig | SeedConfig | DemoConfig | { readonly command: 'help' };

export const USAGE: string = `leasekit-blob-worker: every blob of a container processed exactly once by a pool of workers

Usage:
  leasekit-blob-worker run  [options]   process the input container until every blob is done or failed
  leasekit-blob-worker seed [options]   create input blobs
  leasekit-blob-worker demo [options]   Azurite in memory, 200 blobs, 4 workers, one killed mid-blob

Storage (run, seed): --connection-string S (default $${ENV.connectionString}), --input NAME (default
  blobs-in), --output NAME (default blobs-out)
run: --backend azure|redis|dynamodb (default azure: the lease is on the blob itself), --ttl 15s,
  --no-lease (control run: no lease, duplicates expected), --no-fencing, --worker-id ID,
  --transform gzip|identity, --max-attempts 3, --poll 500ms, --pace 0ms, --drain 10s, --watch,
  --redis-urls URL,URL,... ($${ENV.redisUrls}), --dynamodb-endpoint URL ($${ENV.dynamodbEndpoint}),
  --dynamodb-table NAME ($${ENV.dynamodbTable}, default blob-worker-locks), --json
seed: --count 200, --size 4KiB or 1KiB..16KiB, --failing 0 (poison blobs: the transform throws),
  --crashing 0 (blobs whose processing kills the worker), --prefix item-, --json
demo: --blobs 200, --workers 4, --json
`;

const CONTAINER = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;

function fail(message: string): never {
  throw new ConfigError(message);
}

function duration(name: string, value: string | undefined, fallback: string): number {
  try {
    return toMs((value ?? fallback) as Duration, name);
  } catch {
    return fail(`--${name} must be a duration such as 500ms, 15s or 1m; got ${JSON.stringify(value)}`);
  }
}

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
    fail(`--${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(value)}`);
  }
  return parsed;
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 * 1024 };

/** `4096`, `4KiB`, `1MB`: a size in bytes. */
export function parseSize(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match ? UNITS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    return fail(
      `--${name} must be a size such as 4096, 4KiB or 1MiB (units B, KB, KiB, MB, MiB); got ${JSON.stringify(text)}`,
    );
  }
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes > 256 * 1024 * 1024) fail(`--${name} must be at most 256MiB; got ${JSON.stringify(text)}`);
  return bytes;
}

function container(name: string, value: string | undefined, fallback: string): string {
  const chosen = value ?? fallback;
  if (!CONTAINER.test(chosen)) {
    fail(
      `--${name} must be a container name (3 to 63 lowercase letters, digits and single hyphens); got ${JSON.stringify(chosen)}`,
    );
  }
  return chosen;
}

function storage(values: Record<string, unknown>, env: NodeJS.ProcessEnv): StorageConfig {
  const connectionString = (values['connection-string'] as string | undefined) ?? env[ENV.connectionString];
  if (!connectionString?.trim()) {
    fail(`a storage connection string is needed: set ${ENV.connectionString} or pass --connection-string`);
  }
  const input = container('input', values.input as string | undefined, 'blobs-in');
  const output = container('output', values.output as string | undefined, 'blobs-out');
  if (input === output) fail('--input and --output must be different containers');
  return { connectionString, input, output };
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    fail(`--${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
  }
  return value as T;
}

const STORAGE_OPTIONS = {
  'connection-string': { type: 'string' },
  input: { type: 'string' },
  output: { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function parse(
  command: string,
  args: readonly string[],
  options: NonNullable<Parameters<typeof parseArgs>[0]>['options'],
): { values: Values } {
  try {
    const { values } = parseArgs({
      args: [...args],
      options,
      allowPositionals: false,
      strict: true,
      allowNegative: true,
    });
    return { values: values as Values };
  } catch (error) {
    return fail(`${command}: ${error instanceof Error ? error.message : String(error)} (see --help)`);
  }
}

export function parseRun(args: readonly string[], env: NodeJS.ProcessEnv = process.env): RunConfig {
  const { values } = parse('run', args, {
    ...STORAGE_OPTIONS,
    backend: { type: 'string' },
    ttl: { type: 'string' },
    lease: { type: 'boolean' },
    fencing: { type: 'boolean' },
    'worker-id': { type: 'string' },
    transform: { type: 'string' },
    'max-attempts': { type: 'string' },
    poll: { type: 'string' },
    pace: { type: 'string' },
    drain: { type: 'string' },
    watch: { type: 'boolean' },
    'redis-urls': { type: 'string' },
    'dynamodb-endpoint': { type: 'string' },
    'dynamodb-table': { type: 'string' },
  });
  const backend = oneOf('backend', values.backend as string | undefined, BACKENDS, 'azure');
  const ttlMs = duration('ttl', values.ttl as string | undefined, '15s');
  if (backend === 'azure' && (ttlMs < 15_000 || ttlMs > 60_000 || ttlMs % 1000 !== 0)) {
    fail(
      `--ttl must be whole seconds from 15s to 60s with --backend azure (Azure's lease durations); got ${ttlMs}ms`,
    );
  }
  if (ttlMs < 1000) fail(`--ttl must be at least 1s; got ${ttlMs}ms`);
  const redisText = (values['redis-urls'] as string | undefined) ?? env[ENV.redisUrls] ?? '';
  const redisUrls = redisText
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  if (backend === 'redis') {
    if (redisUrls.length === 0)
      fail(`--backend redis needs --redis-urls redis://host:port,... or ${ENV.redisUrls}`);
    for (const url of redisUrls) {
      if (!/^rediss?:\/\/./.test(url))
        fail(`--redis-urls must be redis:// or rediss:// URLs; got ${JSON.stringify(url)}`);
    }
  }
  const workerId = (values['worker-id'] as string | undefined) ?? `${hostname()}-${process.pid}`;
  if (!/^[\w.:@-]{1,64}$/.test(workerId)) {
    fail(`--worker-id must be 1 to 64 letters, digits or _ . : @ -; got ${JSON.stringify(workerId)}`);
  }
  return {
    command: 'run',
    storage: storage(values, env),
    backend,
    lease: (values.lease as boolean | undefined) ?? true,
    fencing: (values.fencing as boolean | undefined) ?? true,
    ttlMs,
    workerId,
    transform: oneOf('transform', values.transform as string | undefined, TRANSFORMS, 'gzip'),
    maxAttempts: integer('max-attempts', values['max-attempts'] as string | undefined, 3, 1, 100),
    pollMs: duration('poll', values.poll as string | undefined, '500ms'),
    paceMs: duration('pace', values.pace as string | undefined, '0ms'),
    watch: (values.watch as boolean | undefined) ?? false,
    drainMs: duration('drain', values.drain as string | undefined, '10s'),
    json: (values.json as boolean | undefined) ?? false,
    redisUrls,
    dynamodb: {
      endpoint: (values['dynamodb-endpoint'] as string | undefined) ?? env[ENV.dynamodbEndpoint],
      table:
        (values['dynamodb-table'] as string | undefined) ?? env[ENV.dynamodbTable] ?? 'blob-worker-locks',
    },
  };
}

export function parseSeed(args: readonly string[], env: NodeJS.ProcessEnv = process.env): SeedConfig {
  const { values } = parse('seed', args, {
    ...STORAGE_OPTIONS,
    count: { type: 'string' },
    size: { type: 'string' },
    failing: { type: 'string' },
    crashing: { type: 'string' },
    prefix: { type: 'string' },
  });
  const count = integer('count', values.count as string | undefined, 200, 1, 100_000);
  const [low, high] = ((values.size as string | undefined) ?? '4KiB').split('..');
  const minBytes = parseSize('size', low ?? '');
  const maxBytes = high === undefined ? minBytes : parseSize('size', high);
  if (maxBytes < minBytes) fail(`--size range must go from small to large; got ${values.size as string}`);
  const failing = integer('failing', values.failing as string | undefined, 0, 0, count);
  const crashing = integer('crashing', values.crashing as string | undefined, 0, 0, count - failing);
  const prefix = (values.prefix as string | undefined) ?? 'item-';
  if (!/^[\w./-]{0,200}$/.test(prefix))
    fail(`--prefix must be letters, digits and _ . / -; got ${JSON.stringify(prefix)}`);
  return {
    command: 'seed',
    storage: storage(values, env),
    count,
    minBytes,
    maxBytes,
    failing,
    crashing,
    prefix,
    json: (values.json as boolean | undefined) ?? false,
  };
}

export function parseDemo(args: readonly string[]): DemoConfig {
  const { values } = parse('demo', args, {
    blobs: { type: 'string' },
    workers: { type: 'string' },
    json: { type: 'boolean' },
  });
  return {
    command: 'demo',
    blobs: integer('blobs', values.blobs as string | undefined, 200, 1, 10_000),
    workers: integer('workers', values.workers as string | undefined, 4, 2, 32),
    json: (values.json as boolean | undefined) ?? false,
  };
}

export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return parseRun(rest, env);
    case 'seed':
      return parseSeed(rest, env);
    case 'demo':
      return parseDemo(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { command: 'help' };
    default:
      return fail(`unknown command ${JSON.stringify(command)}: use run, seed or demo (see --help)`);
  }
}
