import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { azureBlobConnectionString } from '@leasekit/testing/vitest';
import { describe, expect, it } from 'vitest';
import { MARK, openContainers } from '../src/index.js';
import { MAIN_PATH } from '../src/pool.js';

const run = promisify(execFile);

// The `seed` command as a process: blobs of the chosen sizes in Azurite, poison and crashing ones
// marked; bad input refused (exit 2) before any I/O.

describe('leasekit-blob-worker seed', () => {
  it('creates N blobs of the chosen sizes, some marked poison or crashing', async () => {
    const input = `seed-${randomUUID().slice(0, 8)}`;
    const env = { ...process.env, AZURE_STORAGE_CONNECTION_STRING: azureBlobConnectionString() };
    const args = ['seed', '--count', '6', '--size', '1KiB..2KiB', '--failing', '1', '--crashing', '1'];
    const { stdout } = await run(process.execPath, [MAIN_PATH, ...args, '--input', input, '--json'], { env });
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ type: 'seeded', container: input, count: 6 });
    expect(report.poison).toHaveLength(1);
    expect(report.crashing).toHaveLength(1);
    const { input: container } = openContainers({
      connectionString: env.AZURE_STORAGE_CONNECTION_STRING,
      input,
      output: 'unused',
    });
    const blobs = [];
    for await (const item of container.listBlobsFlat({ includeMetadata: true })) blobs.push(item);
    expect(blobs).toHaveLength(6);
    for (const blob of blobs) {
      expect(blob.properties.contentLength).toBeGreaterThanOrEqual(1024);
      expect(blob.properties.contentLength).toBeLessThanOrEqual(2048);
    }
    expect(blobs.filter((b) => b.metadata?.[MARK.poison]).map((b) => b.name)).toEqual(report.poison);
    expect(blobs.filter((b) => b.metadata?.[MARK.crash]).map((b) => b.name)).toEqual(report.crashing);
    expect(report.bytes).toBe(blobs.reduce((sum, b) => sum + (b.properties.contentLength ?? 0), 0));
  });

  it('bad input exits 2 and names the option, without touching storage', async () => {
    const env = {
      ...process.env,
      AZURE_STORAGE_CONNECTION_STRING:
        'DefaultEndpointsProtocol=http;AccountName=x;AccountKey=eA==;BlobEndpoint=http://127.0.0.1:9/x',
    };
    const error = await run(process.execPath, [MAIN_PATH, 'seed', '--count', '0'], { env }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toBe(
      'leasekit-blob-worker: --count must be a whole number from 1 to 100000; got "0"\n',
    );
  });
});
