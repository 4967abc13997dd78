import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findBinary, MissingBinaryError } from './binary.js';
import { ENV, parseEnvUrl } from './env.js';
import { type ServerProcess, type StartServerOptions, startServer } from './server-process.js';

const run = promisify(execFile);

/**
 * Where AWS's DynamoDB Local comes from: the npm package `amplify-dynamodb-simulator` ships the
 * jar in its `emulator/` folder. Only that folder is extracted (the package's own dependencies
 * are never installed), once per machine, into a cache outside the repository.
 */
export const DYNAMODB_LOCAL_SOURCE: {
  readonly package: string;
  readonly version: string;
  readonly integrity: string;
  readonly dynamoDbLocalVersion: string;
} = {
  package: 'amplify-dynamodb-simulator',
  version: '2.9.30',
  integrity:
    'sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==',
  dynamoDbLocalVersion: '1.25.1',
};

export const JAVA_INSTALL_HINT: string = `DynamoDB Local needs a Java runtime (17 or later): install it with \`apt-get install openjdk-17-jre-headless\` (Debian/Ubuntu) or \`brew install openjdk\`, set LEASEKIT_JAVA to a java executable, or set ${ENV.dynamodb} to use a running server`;

/** The cache folder: `$LEASEKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/leasekit`, else `~/.cache/leasekit`. */
export function leasekitCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LEASEKIT_CACHE_DIR) return env.LEASEKIT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'leasekit');
}

/**
 * Makes sure DynamoDB Local's `emulator/` folder is in the cache and returns its path
 * (`$LEASEKIT_DYNAMODB_LOCAL_DIR` is used as is when set). On first use it fetches the pinned
 * tarball with `npm pack` (so `.npmrc` registries and proxies apply; plain HTTPS from the
 * registry when npm is missing), checks its integrity, extracts only `package/emulator` into a
 * private staging folder and renames it into place. The rename is atomic: concurrent first uses
 * (several vitest projects, a bench) each extract privately and the first rename wins, so a
 * half-extracted folder is never seen.
 */
export async function ensureDynamoDbLocal(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.LEASEKIT_DYNAMODB_LOCAL_DIR) return env.LEASEKIT_DYNAMODB_LOCAL_DIR;
  const source = DYNAMODB_LOCAL_SOURCE;
  const cache = leasekitCacheDir(env);
  const target = join(
    cache,
    `dynamodb-local-${source.dynamoDbLocalVersion}-${source.package}-${source.version}`,
  );
  if (isComplete(target)) return target;
  await mkdir(cache, { recursive: true });
  const staging = join(cache, `.staging-${process.pid}-${randomUUID()}`);
  await mkdir(staging);
  try {
    const tarball = await download(staging, env);
    await run('tar', ['-xzf', tarball, '-C', staging, 'package/emulator'], { maxBuffer: 16 * 1024 * 1024 });
    const emulator = join(staging, 'package', 'emulator');
    await writeFile(join(emulator, '.complete'), `${source.package}@${source.version}\n`);
    try {
      await rename(emulator, target);
    } catch (error) {
      // Someone else finished first: theirs is as good as ours.
      if (!isComplete(target)) throw error;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!isComplete(target))
    throw new Error(`[leasekit] [testing] DynamoDB Local was not extracted to ${target}`);
  return target;
}

function isComplete(dir: string): boolean {
  return existsSync(join(dir, '.complete')) && existsSync(join(dir, 'DynamoDBLocal.jar'));
}

async function download(into: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { package: name, version, integrity } = DYNAMODB_LOCAL_SOURCE;
  let file: string | undefined;
  if (findBinary('npm', env.PATH)) {
    try {
      await run('npm', ['pack', `${name}@${version}`, '--pack-destination', into, '--silent'], {
        cwd: into,
        env,
        maxBuffer: 16 * 1024 * 1024,
      });
      const packed = (await readdir(into)).find((entry) => entry.endsWith('.tgz'));
      if (packed) file = join(into, packed);
    } catch {
      // Fall back to the registry over HTTPS below.
    }
  }
  if (!file) {
    const registry = (env.npm_config_registry || 'https://registry.npmjs.org/').replace(/\/?$/, '/');
    const url = `${registry}${name}/-/${name}-${version}.tgz`;
    const response = await fetch(url);
    if (!response.ok) {
      throw new Error(
        `[leasekit] [testing] could not download DynamoDB Local from ${url}: HTTP ${response.status}`,
      );
    }
    file = join(into, `${name}-${version}.tgz`);
    await writeFile(file, Buffer.from(await response.arrayBuffer()));
  }
  const [algorithm, expected] = integrity.split('-', 2) as [string, string];
  const actual = createHash(algorithm).update(readFileSync(file)).digest('base64');
  if (actual !== expected) {
    throw new Error(
      `[leasekit] [testing] ${name}@${version}: integrity mismatch (expected ${integrity}, got ${algorithm}-${actual})`,
    );
  }
  if ((await stat(file)).size === 0)
    throw new Error(`[leasekit] [testing] ${name}@${version}: empty tarball`);
  return file;
}

export interface DynamoDbLocalServer extends ServerProcess {
  /** `http://127.0.0.1:PORT`: the `endpoint` for `DynamoDBClient`. */
  readonly url: string;
}

export interface DynamoDbLocalOptions {
  /** Java executable. Default: `$LEASEKIT_JAVA`, else `$JAVA_HOME/bin/java`, else `java` on PATH. */
  readonly java?: string;
  /**
   * JVM options, before `-jar`. Default: `$LEASEKIT_DYNAMODB_JVM_ARGS` (space-separated), else a
   * small heap and the quick (C1-only) JIT, which reaches full speed in far fewer requests.
   */
  readonly jvmArgs?: readonly string[];
  /** The `emulator/` folder. Default: `ensureDynamoDbLocal()`. */
  readonly emulatorDir?: string;
  /** Default 60 s (the first start of a JVM on a busy machine is slow). */
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

function defaultJvmArgs(): string[] {
  const fromEnv = process.env.LEASEKIT_DYNAMODB_JVM_ARGS?.trim();
  if (fromEnv) return fromEnv.split(/\s+/);
  return ['-Xms64m', '-Xmx512m', '-XX:TieredStopAtLevel=1'];
}

function javaCommand(options: DynamoDbLocalOptions): string {
  if (options.java) return options.java;
  if (process.env.LEASEKIT_JAVA) return process.env.LEASEKIT_JAVA;
  const fromHome = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  return fromHome && findBinary(fromHome) ? fromHome : 'java';
}

/**
 * Starts AWS's DynamoDB Local (`-inMemory -sharedDb`, so every access key and region sees the
 * same tables) on a free loopback port, ready once it answers HTTP and its log names our port.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocalServer> {
  const java = javaCommand(options);
  if (!findBinary(java)) {
    throw new MissingBinaryError(java, JAVA_INSTALL_HINT);
  }
  const emulator = options.emulatorDir ?? (await ensureDynamoDbLocal());
  const config: StartServerOptions = {
    name: 'dynamodb-local',
    command: java,
    // DynamoDB Local has no bind-address option: it listens on every interface.
    args: ({ port }) => [
      ...(options.jvmArgs ?? defaultJvmArgs()),
      `-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(emulator, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-sharedDb',
      '-port',
      String(port),
    ],
    // The log line "Port:\t<port>" proves the process we started owns the port; the HTTP answer
    // (400 MissingAuthenticationToken to an unsigned request) proves it serves.
    ready: async ({ host, port, dir }) => {
      const log = readLog(join(dir, 'output.log'));
      if (!new RegExp(`^Port:\\s*${port}\\s*$`, 'm').test(log)) return false;
      const response = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      return response.status === 400 || response.ok;
    },
    portInUse: (output) => /Address already in use|BindException/i.test(output),
    installHint: JAVA_INSTALL_HINT,
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
  };
  const server = await startServer(config);
  return Object.assign(server, { url: `http://${server.host}:${server.port}` });
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The endpoint named by `LEASEKIT_DYNAMODB_URL`, or `undefined` to start our own server. */
export function dynamoDbUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[ENV.dynamodb]?.trim();
  if (!value) return undefined;
  parseEnvUrl(ENV.dynamodb, value, ['http:', 'https:'], 'http://host:port');
  return value.replace(/\/$/, '');
}

/** Fixed dummy credentials for DynamoDB Local (it checks their shape, not their value). */
export const DYNAMODB_LOCAL_CREDENTIALS: { readonly accessKeyId: string; readonly secretAccessKey: string } =
  {
    accessKeyId: 'leasekit',
    secretAccessKey: 'leasekit',
  };
