import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AZURE_BLOB_ENV,
  AZURITE_ACCOUNT_KEY,
  azureBlobFromEnv,
  azuriteConnectionString,
  findAzurite,
  startAzurite,
} from '../src/index.js';
import { azuriteGlobalSetup } from '../src/vitest/azurite-setup.js';

const saved = { ...process.env };
afterEach(() => {
  for (const name of Object.values(AZURE_BLOB_ENV)) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

/** The `server` header of an unauthenticated GET, or the error's code. */
function serverHeader(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(`${url}?comp=list`, { agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(String(res.headers.server));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    req.end();
  });
}

describe('Azure Blob endpoints from the environment', () => {
  it('builds an Azurite connection string from LEASEKIT_AZURE_BLOB_URL', () => {
    expect(azureBlobFromEnv({ [AZURE_BLOB_ENV.url]: 'http://azurite:10000/devstoreaccount1/' })).toBe(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=http://azurite:10000/devstoreaccount1;`,
    );
  });

  it('prefers a full connection string, and is undefined when neither is set', () => {
    const env = {
      [AZURE_BLOB_ENV.url]: 'http://azurite:10000/devstoreaccount1',
      [AZURE_BLOB_ENV.connectionString]: 'AccountName=real;AccountKey=k;EndpointSuffix=core.windows.net',
    };
    expect(azureBlobFromEnv(env)).toBe(env[AZURE_BLOB_ENV.connectionString]);
    expect(azureBlobFromEnv({})).toBeUndefined();
    expect(azureBlobFromEnv({ [AZURE_BLOB_ENV.url]: '  ' })).toBeUndefined();
  });

  it.each(['azurite:10000', 'http://azurite:10000', 'redis://azurite:10000/devstoreaccount1'])(
    'refuses %s with the expected shape',
    (value) => {
      expect(() => azureBlobFromEnv({ [AZURE_BLOB_ENV.url]: value })).toThrow(
        /LEASEKIT_AZURE_BLOB_URL: .*http:\/\/host:port/,
      );
    },
  );

  it('connection strings keep the endpoint scheme', () => {
    expect(azuriteConnectionString('https://h:1/acct', 'acct', 'key')).toBe(
      'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=key;BlobEndpoint=https://h:1/acct;',
    );
  });
});

describe('Azurite', () => {
  it('is found in the installed azurite package, or where LEASEKIT_AZURITE_BLOB says', () => {
    expect(findAzurite({})).toMatch(/azurite\/dist\/src\/blob\/main\.js$/);
    expect(findAzurite({ [AZURE_BLOB_ENV.binary]: '/opt/azurite/main.js' })).toBe('/opt/azurite/main.js');
  });

  it('starts in memory on a free loopback port and stops', async () => {
    const server = await startAzurite();
    try {
      expect(server.host).toBe('127.0.0.1');
      expect(server.blobEndpoint).toBe(`http://127.0.0.1:${server.port}/devstoreaccount1`);
      expect(server.connectionString).toContain(`BlobEndpoint=${server.blobEndpoint};`);
      expect(await serverHeader(server.blobEndpoint)).toMatch(/^Azurite-Blob\/3\./);
    } finally {
      await server.stop();
    }
    expect(server.running).toBe(false);
    expect(await serverHeader(server.blobEndpoint)).toBe('ECONNREFUSED');
  });

  it('a global setup provides its connection string, or the one the environment names', async () => {
    delete process.env[AZURE_BLOB_ENV.connectionString];
    delete process.env[AZURE_BLOB_ENV.url];
    const provided = new Map<string, string>();
    const teardown = await azuriteGlobalSetup()({ provide: (key, value) => provided.set(key, value) });
    const started = provided.get('leasekitAzureBlobConnectionString')!;
    const endpoint = /BlobEndpoint=([^;]+)/.exec(started)![1]!;
    expect(await serverHeader(endpoint)).toMatch(/^Azurite-Blob/);
    await teardown();
    expect(await serverHeader(endpoint)).toBe('ECONNREFUSED');

    process.env[AZURE_BLOB_ENV.url] = 'http://azurite:10000/devstoreaccount1';
    const fromEnv = new Map<string, string>();
    const noop = await azuriteGlobalSetup({ entry: '/nonexistent/azurite-blob' })({
      provide: (key, value) => fromEnv.set(key, value),
    });
    expect(fromEnv.get('leasekitAzureBlobConnectionString')).toContain(
      'BlobEndpoint=http://azurite:10000/devstoreaccount1;',
    );
    await noop();
  });
});
