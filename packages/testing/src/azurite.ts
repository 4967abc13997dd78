import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { MissingBinaryError } from './binary.js';
import { ENV, parseEnvUrl } from './env.js';
import { type ServerProcess, type StartServerOptions, startServer } from './server-process.js';

/** Azurite's well-known development account (the same in every Azurite; not a secret). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Variables that point the tests at an Azure Blob endpoint already running instead of starting Azurite. */
export const AZURE_BLOB_ENV: {
  readonly url: typeof ENV.azureBlob;
  readonly connectionString: 'LEASEKIT_AZURE_STORAGE_CONNECTION_STRING';
  readonly binary: 'LEASEKIT_AZURITE_BLOB';
} = {
  /** Azurite's blob endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1` (the well-known key is used). */
  url: ENV.azureBlob,
  /** A full storage connection string: another Azurite account, or a real storage account. Wins over the URL. */
  connectionString: 'LEASEKIT_AZURE_STORAGE_CONNECTION_STRING',
  /** Path to Azurite's `azurite-blob` script, when it is not an installed `azurite` package. */
  binary: 'LEASEKIT_AZURITE_BLOB',
};

export const AZURITE_INSTALL_HINT: string = `install it with \`npm install -D azurite@3.36.0\` (or set ${AZURE_BLOB_ENV.binary} to its azurite-blob script), or set ${AZURE_BLOB_ENV.url} / ${AZURE_BLOB_ENV.connectionString} to use a running endpoint`;

/** A connection string for an Azurite (or any) blob endpoint with the given account. */
export function azuriteConnectionString(
  blobEndpoint: string,
  accountName: string = AZURITE_ACCOUNT_NAME,
  accountKey: string = AZURITE_ACCOUNT_KEY,
): string {
  const protocol = new URL(blobEndpoint).protocol.replace(':', '');
  return `DefaultEndpointsProtocol=${protocol};AccountName=${accountName};AccountKey=${accountKey};BlobEndpoint=${blobEndpoint.replace(/\/$/, '')};`;
}

/**
 * The connection string named by the environment: `LEASEKIT_AZURE_STORAGE_CONNECTION_STRING` as is,
 * or `LEASEKIT_AZURE_BLOB_URL` (an Azurite endpoint whose last path segment is the account) with
 * Azurite's well-known key. `undefined` when neither is set; throws on a malformed URL.
 */
export function azureBlobFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const connectionString = env[AZURE_BLOB_ENV.connectionString]?.trim();
  if (connectionString) return connectionString;
  const value = env[AZURE_BLOB_ENV.url]?.trim();
  if (!value) return undefined;
  const expected = "http://host:port/ACCOUNT (Azurite's blob endpoint)";
  const url = parseEnvUrl(AZURE_BLOB_ENV.url, value, ['http:', 'https:'], expected);
  const account = url.pathname.split('/').filter(Boolean)[0];
  if (!account) {
    throw new Error(
      `[leasekit] [testing] ${AZURE_BLOB_ENV.url}: ${JSON.stringify(value)} must look like ${expected}`,
    );
  }
  return azuriteConnectionString(`${url.origin}/${account}`, account);
}

/**
 * The `azurite-blob` entry script: `$LEASEKIT_AZURITE_BLOB`, else the `azurite` package installed
 * beside `@leasekit/testing` or in the current project. `undefined` when there is none.
 */
export function findAzurite(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[AZURE_BLOB_ENV.binary];
  if (explicit) return resolve(explicit);
  const bases = [import.meta.url, join(process.cwd(), 'package.json')];
  for (const base of bases) {
    try {
      const manifest = createRequire(base).resolve('azurite/package.json');
      const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> }).bin?.[
        'azurite-blob'
      ];
      if (bin) return join(dirname(manifest), bin);
    } catch {
      // not installed there
    }
  }
  return undefined;
}

export interface AzuriteOptions {
  /** The azurite-blob script. Default: `findAzurite()`. */
  readonly entry?: string;
  /** Extra arguments, appended after leasekit's own. */
  readonly args?: readonly string[];
  readonly startTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

export interface AzuriteServer extends ServerProcess {
  /** `http://127.0.0.1:PORT/devstoreaccount1` */
  readonly blobEndpoint: string;
  readonly accountName: string;
  readonly accountKey: string;
  /** A connection string for `@azure/storage-blob` (`ContainerClient`, `BlobServiceClient.fromConnectionString`). */
  readonly connectionString: string;
}

/** True when an HTTP server answers on host:port and says it is Azurite's blob service. */
function azuriteAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise<boolean>((resolvePromise) => {
    const req = request(
      {
        host,
        port,
        path: `/${AZURITE_ACCOUNT_NAME}?comp=list`,
        method: 'GET',
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        resolvePromise(/^Azurite-Blob/i.test(String(res.headers.server ?? '')));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolvePromise(false));
    req.end();
  });
}

/**
 * Starts Azurite's blob service on a free loopback port: in memory (`--inMemoryPersistence`), no
 * telemetry, no access log, run in its own temp dir, and `--skipApiVersionCheck` (the SDK speaks
 * newer service versions than an Azurite release knows; the lease API is the same). It runs under
 * this process's Node (Azurite needs 21+). Ready once its blob endpoint answers as Azurite.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const entry = options.entry ?? findAzurite();
  if (!entry) throw new MissingBinaryError('azurite-blob', AZURITE_INSTALL_HINT);
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 21) {
    throw new Error(
      `[leasekit] [testing] Azurite needs Node 21 or later; this is Node ${process.versions.node}. Run the tests with a newer Node, or set ${AZURE_BLOB_ENV.url} to a running Azurite`,
    );
  }
  const config: StartServerOptions = {
    name: 'azurite-blob',
    command: process.execPath,
    args: ({ host, port }) => [
      entry,
      '--blobHost',
      host,
      '--blobPort',
      String(port),
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--silent',
      '--skipApiVersionCheck',
      ...(options.args ?? []),
    ],
    ready: ({ host, port }) => azuriteAnswers(host, port),
    installHint: AZURITE_INSTALL_HINT,
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: options.stopTimeoutMs }),
  };
  const server = await startServer(config);
  const blobEndpoint = `http://${server.host}:${server.port}/${AZURITE_ACCOUNT_NAME}`;
  return Object.assign(server, {
    blobEndpoint,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    connectionString: azuriteConnectionString(blobEndpoint),
  });
}
