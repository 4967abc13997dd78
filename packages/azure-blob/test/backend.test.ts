import { randomUUID } from 'node:crypto';
import { RestError } from '@azure/storage-blob';
import { countCalls } from '@leasekit/contract-tests';
import { createLocker, type Duration, isLeaseError, LeaseError } from '@leasekit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzureBlobBackendOptions,
  classifyError,
  createAzureBlobBackend,
  decodeLockBlobName,
  encodeKey,
  METADATA,
  recommendedRetryOptions,
} from '../src/index.js';
import {
  backendFactory,
  connectionString,
  containerClient,
  TTL_MS,
  uniqueContainer,
  uniqueKey,
} from './helpers.js';
import { type AzureProxy, startAzureProxy } from './proxy.js';

const container = uniqueContainer('backend');
const backends = backendFactory({ connectionString: connectionString(), container });
const locker = (options: Partial<AzureBlobBackendOptions> = {}) =>
  createLocker(backends.create(options), { ttl: TTL_MS, wait: 0, closeBackend: false });
let proxy: AzureProxy;

beforeAll(async () => {
  await containerClient(container).createIfNotExists();
  proxy = await startAzureProxy(connectionString());
});
afterAll(async () => {
  await backends.closeAll();
  await proxy.close();
});

/** The error a synchronous call throws. */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('configuration (refused before any I/O)', () => {
  const cs = 'UseDevelopmentStorage=true';
  it.each([
    [{}, /exactly one of `containerClient`/],
    [{ connectionString: cs, container: 'c1', containerClient: containerClient('c1') }, /exactly one of/],
    [{ connectionString: cs }, /container must be a container name/],
    [{ connectionString: cs, container: 'Bad_Name' }, /container must be a container name/],
    [{ connectionString: cs, container: 'ab' }, /container must be a container name/],
    [{ connectionString: '  ', container: 'locks' }, /connectionString must be a non-empty string/],
    [
      { connectionString: 'not a connection string', container: 'locks' },
      /connectionString could not be used/,
    ],
    [{ containerClient: {} }, /containerClient must be a ContainerClient/],
    [{ containerClient: containerClient('c1'), container: 'c2' }, /go with connectionString/],
    [
      { connectionString: cs, container: 'locks', keys: 'blobs' },
      /keys must be 'lock-blobs' or 'blob-names'/,
    ],
    [{ connectionString: cs, container: 'locks', prefix: 'a\\b' }, /prefix must be a string/],
    [{ connectionString: cs, container: 'locks', keys: 'blob-names', prefix: 'x/' }, /prefix is for keys/],
    [{ connectionString: cs, container: 'locks', fencing: 'yes' }, /fencing must be a boolean/],
    [
      { connectionString: cs, container: 'locks', keys: 'blob-names', createContainer: true },
      /createContainer is for keys: 'lock-blobs'/,
    ],
    [{ connectionString: cs, container: 'locks', requestTimeout: 'soon' }, /requestTimeout/],
  ])('%j', (options, message) => {
    const error = thrown(() => createAzureBlobBackend(options as AzureBlobBackendOptions));
    expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/^\[leasekit\] \[azure-blob\] configure: /);
    expect((error as Error).message).toMatch(message);
  });

  it('declares Azure lease capabilities: 15 s to 60 s in whole seconds, or infinite', () => {
    const backend = backends.create({ fencing: true });
    expect(backend.name).toBe('azure-blob');
    expect(backend.capabilities).toEqual({
      fencing: true,
      minTtlMs: 15_000,
      maxTtlMs: 60_000,
      infiniteTtl: true,
      ttlGranularityMs: 1_000,
      maxKeyLength: 1024,
    });
    expect(backends.create({ prefix: 'locks/' }).capabilities.maxKeyLength).toBe(1018);
  });

  it('builds its client with bounded retries', () => {
    expect(recommendedRetryOptions.maxTries).toBeLessThanOrEqual(3);
    expect(recommendedRetryOptions.tryTimeoutInMs).toBeLessThan(TTL_MS / 3);
  });
});

describe('TTLs outside Azure lease durations are refused before any I/O', () => {
  it.each<[Duration]>([['14s'], ['61s'], [15_500], ['2m']])('%s', async (ttl) => {
    const counted = countCalls(backends.create());
    const l = createLocker(counted.backend, { wait: 0 });
    const error = await l.acquire(uniqueKey('ttl'), { ttl }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/ttl must be .*15s to 1m \(or Infinity\)/);
    expect(counted.total()).toBe(0);
  });

  it('the backend itself refuses them too, when called directly', async () => {
    const backend = backends.create();
    const key = uniqueKey('ttl-direct');
    for (const ttlMs of [1_000, 14_999, 15_500, 61_000, Number.NaN]) {
      const error = await backend.tryAcquire({ key, token: randomUUID(), ttlMs }).catch((e: unknown) => e);
      expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(/whole seconds from 15s to 1m, or Infinity: Azure leases/);
    }
    const renew = await backend.renew({ key, token: randomUUID() }, Infinity).catch((e: unknown) => e);
    expect((renew as Error).message).toMatch(/whole seconds from 15s to 1m: Azure/);
    expect(await backend.inspect(key)).toBeNull(); // nothing was created
  });

  it('an infinite lease is for timeout-less use only: a timeout lock that never expires', async () => {
    const l = locker();
    const key = uniqueKey('infinite');
    await expect(l.acquire(key, { ttl: Infinity, mode: 'lease' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/infinite TTL is for timeout-less use only/),
    });
    const lease = await l.acquire(key, { ttl: Infinity, mode: 'timeout' });
    expect(lease.remainingMs).toBe(Infinity);
    const info = await l.inspect(key);
    expect(info).toMatchObject({ held: true, state: 'leased', duration: 'infinite' });
    expect(await lease.release()).toBe(true);
    await l.close();
  });

  it('a token that is not a GUID is refused (it is the Azure lease ID)', async () => {
    const backend = backends.create();
    const key = uniqueKey('token');
    await expect(backend.tryAcquire({ key, token: 'not-a-guid', ttlMs: TTL_MS })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/token must be a GUID/),
    });
    expect(await backend.release({ key, token: 'not-a-guid' })).toBe(false);
  });
});

describe('keys and blob names', () => {
  it('encodes keys into blob names injectively, keeping readable characters', () => {
    expect(encodeKey('orders:42')).toBe('orders:42');
    expect(encodeKey('a/b')).toBe('a%2Fb');
    expect(encodeKey('100%')).toBe('100%25');
    expect(encodeKey('a b\\c')).toBe('a%20b%5Cc');
    expect(encodeKey('ends.')).toBe('ends%2E');
    expect(encodeKey('ünï €')).toBe('%C3%BCn%C3%AF%20%E2%82%AC');
    expect(encodeKey('😀')).toBe('%F0%9F%98%80');
    expect(encodeKey('bad\uD800')).toBeUndefined();
    const keys = ['a/b', 'a%2Fb', 'a.', 'a%2E', 'x y', 'x+y', 'Key', 'key'];
    const names = keys.map((key) => encodeKey(key));
    expect(new Set(names).size).toBe(keys.length);
    for (const key of keys) expect(decodeLockBlobName(`p/${encodeKey(key)!}`, 'p/')).toBe(key);
  });

  it('puts lock blobs under the prefix and maps them back to keys', async () => {
    const backend = backends.create({ prefix: 'locks/' });
    const key = `jobs/${randomUUID()}`;
    expect(backend.blobName(key)).toBe(`locks/jobs%2F${key.slice(5)}`);
    expect(backend.keyOf(backend.blobName(key))).toBe(key);
    const l = createLocker(backend, { ttl: TTL_MS, wait: 0, closeBackend: false });
    const lease = await l.acquire(key);
    const names: string[] = [];
    for await (const blob of containerClient(container).listBlobsFlat({ prefix: 'locks/jobs' }))
      names.push(blob.name);
    expect(names).toContain(backend.blobName(key));
    await lease.release();
    await l.close();
  });

  it('refuses keys that cannot become a blob name, with the reason', async () => {
    const l = locker();
    await expect(l.acquire('bad\uD800key')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/key must be well-formed Unicode/),
    });
    // 400 characters that each encode to 3: too long once encoded.
    await expect(l.acquire('/'.repeat(400))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/encode to a blob name of at most 1024 characters.*1200/),
    });
    const items = createLocker(backends.create({ keys: 'blob-names' }), { ttl: TTL_MS, wait: 0 });
    for (const [key, reason] of [
      ['dir/', /must not end with '\.' or '\/'/],
      ['name.', /must not end with '\.' or '\/'/],
      ['a\\b', /must not contain '\\'/],
      ['tab\there', /control characters/],
    ] as const) {
      await expect(items.acquire(key)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(reason),
      });
    }
    await items.close();
  });
});

describe('lock blobs', () => {
  it('are created on first use, and acquire on an existing blob is one round trip', async () => {
    const own = uniqueContainer('roundtrip');
    const backend = backends.create({ connectionString: proxy.connectionString, container: own });
    const key = uniqueKey('first-use');
    const token = randomUUID();
    proxy.reset();
    // First use: the container and the blob do not exist yet.
    expect(await backend.tryAcquire({ key, token, ttlMs: TTL_MS })).toEqual({ status: 'acquired' });
    expect(proxy.seen.map((seen) => seen.operation)).toEqual([
      'acquire', // 404 ContainerNotFound
      'blob', // create the container
      'acquire', // 404 BlobNotFound
      'blob', // create the empty lock blob, If-None-Match: *
      'acquire',
    ]);
    expect(await backend.release({ key, token })).toBe(true);
    proxy.reset();
    const again = await backend.tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS });
    expect(again.status).toBe('acquired');
    expect(proxy.seen.map((seen) => seen.operation)).toEqual(['acquire']);
    const held = await backend.tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS });
    expect(held).toEqual({ status: 'held' });
    await containerClient(own).deleteIfExists();
  });

  it('survive the create race: many clients acquiring a new key at once, exactly one wins', async () => {
    const key = uniqueKey('race');
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, () =>
        backends.create().tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS }),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'acquired')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.status === 'held')).toHaveLength(11);
  });

  it('with createContainer: false, a missing container is a clear, non-retryable error', async () => {
    const backend = backends.create({ container: uniqueContainer('missing'), createContainer: false });
    const key = uniqueKey('no-container');
    const error = await backend
      .tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })
      .catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as LeaseError).retryable).toBe(false);
    expect((error as Error).message).toBe(
      `[leasekit] [azure-blob] acquire ${JSON.stringify(key)}: Azure answered 404 ContainerNotFound: The specified container does not exist. (create the container, or let the backend create it: createContainer: true)`,
    );
    expect((error as LeaseError).cause).toBeInstanceOf(RestError);
  });
});

describe('fencing tokens in metadata', () => {
  it('are written under the lease, survive release, and continue across clients', async () => {
    const key = uniqueKey('fence');
    const [a, b] = [locker({ fencing: true }), locker({ fencing: true })];
    const fences: number[] = [];
    for (let i = 0; i < 6; i++) {
      const lease = await (i % 3 === 2 ? b : a).acquire(key, { owner: `worker-${i}` });
      fences.push(lease.fence!);
      const info = await a.inspect(key);
      expect(info).toMatchObject({ held: true, fence: lease.fence, owner: `worker-${i}` });
      await lease.release();
    }
    expect(fences).toEqual([1, 2, 3, 4, 5, 6]);
    // A client that never saw this key reads the stored counter.
    const fresh = await locker({ fencing: true }).acquire(key);
    expect(fresh.fence).toBe(7);
    await fresh.release();
    const blob = containerClient(container).getBlobClient(backends.create().blobName(key));
    const { metadata } = await blob.getProperties();
    expect(metadata?.[METADATA.fence]).toBe('7');
    expect(metadata?.[METADATA.holder]).toMatch(/^[0-9a-f]{32}$/);
    expect(Object.values(metadata ?? {}).join(' ')).not.toContain(fresh.token); // the lease ID is not stored
  });

  it('a retried acquire with the same token gets the same fence, whoever retries it', async () => {
    const key = uniqueKey('fence-retry');
    const token = randomUUID();
    const first = await backends.create({ fencing: true }).tryAcquire({ key, token, ttlMs: TTL_MS });
    const retry = await backends.create({ fencing: true }).tryAcquire({ key, token, ttlMs: TTL_MS });
    expect(first).toEqual({ status: 'acquired', fence: 1 });
    expect(retry).toEqual({ status: 'acquired', fence: 1 });
  });

  it('cost one read and one write after the acquire, or only the write when the blob is as we left it', async () => {
    const backend = backends.create({ connectionString: proxy.connectionString, fencing: true });
    const other = backends.create({ connectionString: proxy.connectionString, fencing: true });
    const key = uniqueKey('fence-trips');
    const first = randomUUID();
    expect(await backend.tryAcquire({ key, token: first, ttlMs: TTL_MS })).toMatchObject({ fence: 1 });
    await backend.release({ key, token: first });
    proxy.reset();
    const second = randomUUID();
    // This client wrote the blob last: the ETag the acquire returns tells it the stored fence.
    expect(await backend.tryAcquire({ key, token: second, ttlMs: TTL_MS })).toEqual({
      status: 'acquired',
      fence: 2,
    });
    expect(proxy.seen.map((seen) => seen.operation)).toEqual(['acquire', 'metadata']);
    proxy.reset();
    expect(await other.tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })).toEqual({ status: 'held' });
    expect(proxy.seen.map((seen) => seen.operation)).toEqual(['acquire']);
    await backend.release({ key, token: second });
    proxy.reset();
    // Another client has to read the metadata first.
    expect(await other.tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })).toEqual({
      status: 'acquired',
      fence: 3,
    });
    expect(proxy.seen.map((seen) => `${seen.method} ${seen.operation}`)).toEqual([
      'PUT acquire',
      'HEAD blob',
      'PUT metadata',
    ]);
  });

  it('keep the metadata a work item already has', async () => {
    const name = `items/${randomUUID()}.json`;
    const blob = containerClient(container).getBlockBlobClient(name);
    await blob.upload('{}', 2, { metadata: { source: 'upload', Region: 'west' } });
    const items = createLocker(backends.create({ keys: 'blob-names', fencing: true }), {
      ttl: TTL_MS,
      wait: 0,
    });
    const lease = await items.acquire(name, { owner: 'wörker 1' });
    expect(lease.fence).toBe(1);
    const { metadata } = await blob.getProperties();
    expect(metadata).toMatchObject({ source: 'upload', region: 'west', [METADATA.fence]: '1' });
    expect(metadata?.[METADATA.owner]).toBe(encodeURIComponent('wörker 1'));
    expect(await items.inspect(name)).toMatchObject({ owner: 'wörker 1', fence: 1 });
    await lease.release();
    await items.close();
  });

  it('a corrupt stored fence is refused (not retryable) and the lease is given back', async () => {
    const key = uniqueKey('fence-corrupt');
    const backend = backends.create({ fencing: true });
    const token = randomUUID();
    await backend.tryAcquire({ key, token, ttlMs: TTL_MS });
    const blob = containerClient(container).getBlobClient(backend.blobName(key));
    await blob.setMetadata({ [METADATA.fence]: 'many' }, { conditions: { leaseId: token } });
    await backend.release({ key, token });
    const error = await backend
      .tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })
      .catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as LeaseError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/leasekit_fence metadata is "many", not a fencing token/);
    expect(await backend.inspect(key)).toMatchObject({ held: false, state: 'available', fence: undefined });
  });
});

describe('work items (keys: blob-names)', () => {
  const items = () => createLocker(backends.create({ keys: 'blob-names' }), { ttl: TTL_MS, wait: 0 });

  it('a write to the leased blob with the lease ID works, and without it fails with 412', async () => {
    const name = `inbox/${randomUUID()}.txt`;
    const blob = containerClient(container).getBlockBlobClient(name);
    await blob.upload('todo', 4);
    const l = items();
    const lease = await l.acquire(name);
    // The lease ID is the lease's token.
    await blob.upload('done', 4, { conditions: { leaseId: lease.token } });
    const without = await blob.upload('oops', 4).catch((e: unknown) => e);
    expect(without).toBeInstanceOf(RestError);
    expect((without as RestError).statusCode).toBe(412);
    expect((without as RestError).code).toBe('LeaseIdMissing');
    const wrong = await blob
      .upload('oops', 4, { conditions: { leaseId: randomUUID() } })
      .catch((e: unknown) => e);
    expect((wrong as RestError).statusCode).toBe(412);
    expect((wrong as RestError).code).toBe('LeaseIdMismatchWithBlobOperation');
    expect((await blob.downloadToBuffer()).toString()).toBe('done');
    await lease.release();
    await blob.upload('free', 4); // released: anyone can write again
    await l.close();
  });

  it('acquiring a key whose blob does not exist is an error that names it', async () => {
    const l = items();
    const name = `inbox/${randomUUID()}.txt`;
    await expect(l.acquire(name)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/there is no blob ".+" in container ".+": with keys: 'blob-names'/),
    });
    await l.close();
  });
});

describe('renewal', () => {
  it('is one request; a new TTL, or a lease this client did not take, adds an acquire with the same ID', async () => {
    const backend = backends.create({ connectionString: proxy.connectionString });
    const key = uniqueKey('renew-trips');
    const token = randomUUID();
    await backend.tryAcquire({ key, token, ttlMs: TTL_MS });
    proxy.reset();
    expect(await backend.renew({ key, token }, TTL_MS)).toEqual({ status: 'renewed' });
    expect(proxy.seen.map((seen) => seen.operation)).toEqual(['renew']);
    proxy.reset();
    expect(await backend.renew({ key, token }, 30_000)).toEqual({ status: 'renewed' });
    expect(proxy.seen.map((seen) => seen.operation)).toEqual(['renew', 'acquire']);
    proxy.reset();
    const other = backends.create({ connectionString: proxy.connectionString });
    expect(await other.renew({ key, token }, 30_000)).toEqual({ status: 'renewed' });
    expect(proxy.seen.map((seen) => seen.operation)).toEqual(['renew', 'acquire']);
    expect(await other.renew({ key, token: randomUUID() }, 30_000)).toMatchObject({
      status: 'lost',
      detail: expect.stringMatching(/^Azure answered 409 LeaseIdMismatchWithLeaseOperation: /),
    });
    expect(await backend.release({ key, token })).toBe(true);
    expect(await backend.renew({ key, token }, TTL_MS)).toMatchObject({ status: 'lost' });
  });
});

describe('admin: inspect and breakLease', () => {
  it('inspect shows Azure lease state and duration; null for a key never used', async () => {
    const l = locker();
    const key = uniqueKey('inspect');
    expect(await l.inspect(key)).toBeNull();
    const lease = await l.acquire(key, { ttl: '20s' });
    const info = await l.inspect(key);
    expect(info).toMatchObject({
      key,
      held: true,
      state: 'leased',
      duration: 'fixed',
      blobName: key,
    });
    expect(info?.token).toBeUndefined(); // Azure never reveals a lease ID
    await lease.release();
    expect(await l.inspect(key)).toMatchObject({ held: false, state: 'available', duration: undefined });
    await l.close();
  });

  it('breakLease with a period: the key stays unavailable until the break ends', async () => {
    const backend = backends.create();
    const l = createLocker(backend, { ttl: TTL_MS, wait: 0, closeBackend: false });
    const key = uniqueKey('break-period');
    const lease = await l.acquire(key);
    expect(await backend.breakLease(key, '10s')).toEqual({ broken: true, remainingMs: 10_000 });
    expect(await backend.inspect(key)).toMatchObject({ held: true, state: 'breaking' });
    expect(await locker().tryAcquire(key)).toBeNull(); // breaking: held for everyone
    // Even for the holder's own lease ID (409 LeaseIsBreakingAndCannotBeAcquired).
    expect(await backend.tryAcquire({ key, token: lease.token, ttlMs: TTL_MS })).toEqual({ status: 'held' });
    // The holder cannot renew a breaking lease: the lease is lost, before the break ends.
    await expect(lease.renew()).rejects.toMatchObject({ code: 'LEASE_LOST', reason: 'taken' });
    expect(lease.signal.aborted).toBe(true);
    expect(await backend.breakLease(key, 0)).toEqual({ broken: true, remainingMs: 0 });
    const next = await locker().acquire(key);
    expect(next.held).toBe(true);
    await next.release();
    await l.close();
  });

  it('breakLease on a free or missing key breaks nothing; bad periods are refused', async () => {
    const backend = backends.create();
    const key = uniqueKey('break-free');
    expect(await backend.breakLease(key)).toEqual({ broken: false, remainingMs: 0 });
    for (const period of ['61s', '1500ms', -1]) {
      await expect(backend.breakLease(key, period as never)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
  });
});

describe('SDK retries of requests that landed', () => {
  it('an acquire whose answer was lost is retried by the SDK with the same lease ID, and succeeds', async () => {
    const backend = backends.create({ connectionString: proxy.connectionString });
    const key = uniqueKey('retry-acquire');
    const token = randomUUID();
    // The lock blob exists, so the first try lands.
    const setup = backends.create();
    const warm = randomUUID();
    await setup.tryAcquire({ key, token: warm, ttlMs: TTL_MS });
    await setup.release({ key, token: warm });
    let dropped = 0;
    proxy.reset();
    proxy.fault = (seen) =>
      seen.operation === 'acquire' && dropped++ === 0 ? { dropResponse: true } : undefined;
    expect(await backend.tryAcquire({ key, token, ttlMs: TTL_MS })).toEqual({ status: 'acquired' });
    expect(proxy.count('acquire')).toBe(2);
    expect(await backends.create().tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })).toEqual({
      status: 'held',
    });
    expect(await backend.release({ key, token })).toBe(true);
  });

  it('a release whose answer was lost resolves (the retry meets 409) and the key is free', async () => {
    const backend = backends.create({ connectionString: proxy.connectionString });
    const key = uniqueKey('retry-release');
    const token = randomUUID();
    expect((await backend.tryAcquire({ key, token, ttlMs: TTL_MS })).status).toBe('acquired');
    let dropped = 0;
    proxy.reset();
    proxy.fault = (seen) =>
      seen.operation === 'release' && dropped++ === 0 ? { dropResponse: true } : undefined;
    expect(await backend.release({ key, token })).toBe(false); // gone; the retry cannot tell it was ours
    expect(proxy.count('release')).toBe(2);
    expect((await backends.create().tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })).status).toBe(
      'acquired',
    );
  });

  it('a call with no answer within requestTimeout is a retryable BACKEND_UNAVAILABLE', async () => {
    const backend = backends.create({ connectionString: proxy.connectionString, requestTimeout: '300ms' });
    const key = uniqueKey('timeout');
    proxy.reset();
    proxy.fault = () => ({ delayMs: 2_000 });
    const started = performance.now();
    const error = await backend
      .tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })
      .catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect((error as LeaseError).retryable).toBe(true);
    expect((error as Error).message).toMatch(/acquire ".+": no answer within requestTimeout \(300ms\)/);
    proxy.reset();
  });
});

describe('classifyError', () => {
  const rest = (statusCode: number | undefined, code: string, message = `${code} happened`) =>
    new RestError(message, statusCode === undefined ? { code } : { statusCode, code });

  it.each([
    [rest(409, 'LeaseIdMismatchWithLeaseOperation'), 'NOT_HOLDER', false],
    [rest(409, 'LeaseNotPresentWithLeaseOperation'), 'NOT_HOLDER', false],
    [rest(409, 'LeaseIsBrokenAndCannotBeRenewed'), 'NOT_HOLDER', false],
    [rest(412, 'LeaseLost'), 'NOT_HOLDER', false],
    [rest(412, 'LeaseIdMismatchWithBlobOperation'), 'NOT_HOLDER', false],
    [rest(412, 'LeaseNotPresentWithBlobOperation'), 'NOT_HOLDER', false],
    [rest(409, 'LeaseAlreadyPresent'), 'NOT_HOLDER', false],
    [rest(503, 'ServerBusy'), 'BACKEND_UNAVAILABLE', true],
    [rest(500, 'InternalError'), 'BACKEND_UNAVAILABLE', true],
    [rest(500, 'OperationTimedOut'), 'BACKEND_UNAVAILABLE', true],
    [rest(429, 'TooManyRequests'), 'BACKEND_UNAVAILABLE', true],
    [rest(undefined, 'REQUEST_SEND_ERROR'), 'BACKEND_UNAVAILABLE', true],
    [rest(undefined, 'ECONNREFUSED'), 'BACKEND_UNAVAILABLE', true],
    [rest(undefined, 'ERR_STREAM_PREMATURE_CLOSE'), 'BACKEND_UNAVAILABLE', true],
    [Object.assign(new Error('network is down'), { code: 'ENETDOWN' }), 'BACKEND_UNAVAILABLE', true],
    [rest(403, 'AuthorizationFailure'), 'BACKEND_UNAVAILABLE', false],
    [rest(404, 'ContainerNotFound'), 'BACKEND_UNAVAILABLE', false],
    [rest(400, 'InvalidHeaderValue'), 'BACKEND_UNAVAILABLE', false],
    [rest(400, 'InvalidLeaseDuration'), 'INVALID_ARGUMENT', false],
    [
      Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }),
      'BACKEND_UNAVAILABLE',
      true,
    ],
    [new TypeError('a bug'), 'BACKEND_UNAVAILABLE', false],
  ])('%s → %s (retryable: %s)', (cause, code, retryable) => {
    const error = classifyError(cause, 'renew', 'k');
    expect(error).toBeInstanceOf(LeaseError);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.cause).toBe(cause);
    expect(error.message).toMatch(/^\[leasekit\] \[azure-blob\] renew "k": /);
  });

  it('passes leasekit errors through and names status and code', () => {
    const inner = classifyError(rest(503, 'ServerBusy', 'Busy.\nRequestId:1'), 'acquire', 'jobs:1');
    expect(inner.message).toBe(
      '[leasekit] [azure-blob] acquire "jobs:1": Azure answered 503 ServerBusy: Busy.',
    );
    expect(classifyError(inner, 'renew')).toBe(inner);
  });
});

describe('lifecycle', () => {
  it('a closed backend refuses work', async () => {
    const backend = backends.create();
    await backend.close();
    await backend.close(); // idempotent
    const key = uniqueKey('closed');
    await expect(backend.tryAcquire({ key, token: randomUUID(), ttlMs: TTL_MS })).rejects.toMatchObject({
      code: 'CLOSED',
    });
    await expect(backend.inspect(key)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('accepts a ContainerClient the caller built', async () => {
    const l = createLocker(createAzureBlobBackend({ containerClient: containerClient(container) }), {
      ttl: TTL_MS,
      wait: 0,
    });
    const lease = await l.acquire(uniqueKey('client'));
    expect(await lease.release()).toBe(true);
    await l.close();
  });
});
