import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { createLocker, isLeaseError, type LeaseError } from '@leasekit/core';
import { getFreePort } from '@leasekit/testing';
import { describe, expect, it } from 'vitest';
import {
  ATTR,
  classifyError,
  createDynamoDbBackend,
  createLockTable,
  DEFAULT_GC_ATTRIBUTE,
  DEFAULT_PARTITION_KEY,
} from '../src/index.js';
import { clientConfig, key, useBackends, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-backend');
const backend = useBackends(table.tableName);

async function rawItem(k: string) {
  const { Item } = await table.admin().send(
    new GetItemCommand({
      TableName: table.tableName,
      Key: { [DEFAULT_PARTITION_KEY]: { S: k } },
      ConsistentRead: true,
    }),
  );
  return Item;
}

describe('the lock item', () => {
  it('holds token, a new record version on every write, lease, fence, owner and GC time; release keeps the fence', async () => {
    const b = backend();
    const k = key('item');
    const token = randomUUID();
    const before = Date.now();
    const acquired = await b.tryAcquire({ key: k, token, ttlMs: 5_000, owner: 'worker-7' });
    expect(acquired.status).toBe('acquired');
    const held = (await rawItem(k))!;
    expect(held[ATTR.token]?.S).toBe(token);
    expect(held[ATTR.leaseMs]?.N).toBe('5000');
    expect(held[ATTR.owner]?.S).toBe('worker-7');
    // The fence is seeded from the wall clock when the item is created, so that it keeps
    // increasing even if the item is garbage-collected and created again.
    const fence = Number(held[ATTR.fence]?.N);
    expect(fence).toBe((acquired as { fence: number }).fence);
    expect(fence).toBeGreaterThan(before);
    expect(Number(held[ATTR.leaseUntil]?.N)).toBeGreaterThanOrEqual(before + 5_000);
    // GC: 7 days after the lease would end, in epoch seconds.
    expect(Number(held[DEFAULT_GC_ATTRIBUTE]?.N)).toBeGreaterThanOrEqual(
      Math.floor((before + 5_000) / 1000) + 7 * 86_400,
    );

    expect(await b.renew({ key: k, token }, 6_000)).toEqual({ status: 'renewed' });
    const renewed = (await rawItem(k))!;
    expect(renewed[ATTR.rvn]?.S).not.toBe(held[ATTR.rvn]?.S);
    expect(renewed[ATTR.leaseMs]?.N).toBe('6000');
    expect(renewed[ATTR.fence]?.N).toBe(held[ATTR.fence]?.N);

    expect(await b.inspect(k)).toMatchObject({ key: k, held: true, token, fence, owner: 'worker-7' });
    expect(await b.release({ key: k, token })).toBe(true);
    const released = (await rawItem(k))!;
    expect(released[ATTR.token]).toBeUndefined();
    expect(released[ATTR.owner]).toBeUndefined();
    expect(released[ATTR.leaseMs]).toBeUndefined();
    expect(released[ATTR.rvn]?.S).not.toBe(renewed[ATTR.rvn]?.S);
    expect(released[ATTR.fence]?.N).toBe(String(fence));
    expect(await b.inspect(k)).toEqual({ key: k, held: false, fence });

    const next = await b.tryAcquire({ key: k, token: randomUUID(), ttlMs: 5_000 });
    expect(next).toEqual({ status: 'acquired', fence: fence + 1 });
    expect(await b.inspect(key('never'))).toBeNull();
  });

  it('keyPrefix and partitionKey name the item; a key too long for DynamoDB is refused before any I/O', async () => {
    const b = backend({ keyPrefix: 'app-a/' });
    const k = key('prefixed');
    const token = randomUUID();
    expect((await b.tryAcquire({ key: k, token, ttlMs: 1_000 })).status).toBe('acquired');
    expect((await rawItem(`app-a/${k}`))?.[ATTR.token]?.S).toBe(token);
    expect(await rawItem(k)).toBeUndefined();
    const locker = createLocker(b, { closeBackend: false });
    const error = (await locker.acquire('€'.repeat(700)).catch((e: unknown) => e)) as LeaseError;
    expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(error.message).toMatch(/key must be at most 2048 bytes/);
  });
});

describe('createLockTable', () => {
  it('is idempotent and enables TTL on the GC attribute', async () => {
    const admin = table.admin();
    expect(await createLockTable({ client: admin, tableName: table.tableName })).toEqual({ created: false });
    const { TimeToLiveDescription } = await admin.send(
      new DescribeTimeToLiveCommand({ TableName: table.tableName }),
    );
    expect(TimeToLiveDescription).toMatchObject({
      AttributeName: DEFAULT_GC_ATTRIBUTE,
      TimeToLiveStatus: 'ENABLED',
    });
    await expect(
      createLockTable({ client: admin, tableName: table.tableName, gcAttribute: 'expiresAt' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/TTL is on "gcAt"/) });
  });
});

/** A client whose next `n` answers are lost after DynamoDB applied the request: an unknown outcome. */
function lossyClient() {
  const client = new DynamoDBClient(clientConfig());
  const faults = { dropAnswers: 0, dropped: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      if (faults.dropAnswers > 0) {
        faults.dropAnswers--;
        faults.dropped++;
        throw Object.assign(new Error('socket timed out after the request was sent'), {
          name: 'TimeoutError',
        });
      }
      return result;
    },
    { step: 'finalizeRequest', name: 'leasekitDropAnswer' },
  );
  return { client, faults };
}

describe('writes whose outcome is unknown', () => {
  it('an acquire that landed but whose answer was lost is settled by the retry: the item is ours', async () => {
    const { client, faults } = lossyClient();
    const b = createDynamoDbBackend({ client, tableName: table.tableName });
    const attempts: number[] = [];
    const locker = createLocker(b, {
      ttl: 2_000,
      hooks: { acquired: (event) => attempts.push(event.attempts) },
    });
    const k = key('lost-answer');
    faults.dropAnswers = 1;
    const lease = await locker.acquire(k, { wait: '2s' });
    expect(faults.dropped).toBe(1);
    expect(attempts).toEqual([2]);
    // One holding, ours, with the fence the landed write handed out.
    const info = await b.inspect(k);
    expect(info).toMatchObject({ held: true, token: lease.token, fence: lease.fence });
    expect((await backend().tryAcquire({ key: k, token: randomUUID(), ttlMs: 2_000 })).status).toBe('held');
    await lease.release();
    await locker.close();
    client.destroy();
  });

  it('a renewal whose answer was lost is retried within the validity and the lease is kept', async () => {
    const { client, faults } = lossyClient();
    const failures: unknown[] = [];
    const locker = createLocker(createDynamoDbBackend({ client, tableName: table.tableName }), {
      ttl: 1_000,
      hooks: { renewFailed: (event) => failures.push(event.error) },
    });
    const lease = await locker.acquire(key('lost-renewal'), { mode: 'lease' });
    faults.dropAnswers = 1;
    await sleep(1_500);
    expect(faults.dropped).toBe(1);
    expect(failures).toHaveLength(1);
    expect((failures[0] as LeaseError).retryable).toBe(true);
    expect(lease.held).toBe(true);
    expect(await lease.release()).toBe(true);
    await locker.close();
    client.destroy();
  });
});

/** A client whose next `n` requests are refused before they are sent, as DynamoDB refuses them when throttling. */
function throttledClient() {
  const client = new DynamoDBClient(clientConfig());
  const faults = { throttle: 0, throttled: 0, serverErrors: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      if (faults.throttle > 0) {
        faults.throttle--;
        faults.throttled++;
        throw new ProvisionedThroughputExceededException({
          message: 'The level of configured provisioned throughput for the table was exceeded',
          $metadata: { httpStatusCode: 400 },
        });
      }
      if (faults.serverErrors > 0) {
        faults.serverErrors--;
        faults.throttled++;
        throw new InternalServerError({
          message: 'Internal server error',
          $metadata: { httpStatusCode: 500 },
        });
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'leasekitThrottle' },
  );
  return { client, faults };
}

describe('throttling and 5xx', () => {
  it('are retried by core: within the wait for an acquire, within the validity for a renewal', async () => {
    const { client, faults } = throttledClient();
    const errors: LeaseError[] = [];
    const locker = createLocker(createDynamoDbBackend({ client, tableName: table.tableName }), {
      ttl: 1_000,
      hooks: { renewFailed: (event) => errors.push(event.error) },
    });
    faults.throttle = 2;
    const lease = await locker.acquire(key('throttled'), { mode: 'lease', wait: '2s' });
    expect(faults.throttled).toBe(2);
    faults.throttle = 1;
    faults.serverErrors = 1;
    await sleep(1_200);
    expect(faults.throttled).toBe(4);
    expect(errors.map((error) => [error.code, error.retryable])).toEqual([
      ['BACKEND_UNAVAILABLE', true],
      ['BACKEND_UNAVAILABLE', true],
    ]);
    expect(errors[0]!.message).toMatch(/throttled by DynamoDB \(ProvisionedThroughputExceededException/);
    expect(errors[1]!.message).toMatch(/DynamoDB failed on its side \(InternalServerError/);
    expect(lease.held).toBe(true);
    expect(await lease.release()).toBe(true);
    await locker.close();
    client.destroy();
  });
});

describe('errors', () => {
  it('a locker must renew at least twice per lease (renewFraction <= 0.5), refused before any I/O', () => {
    const b = backend();
    expect(() => createLocker(b, { renewFraction: 0.6, closeBackend: false })).toThrow(
      /renewFraction must be at most 0.5 for the dynamodb backend/,
    );
    expect(() => createLocker(b, { renewFraction: 0.5, closeBackend: false })).not.toThrow();
  });

  it('a missing table is a non-retryable error that says how to create it, with the AWS error as cause', async () => {
    const b = createDynamoDbBackend({
      clientConfig: clientConfig(),
      tableName: `leasekit-missing-${randomUUID()}`,
    });
    const error = (await b
      .tryAcquire({ key: 'k', token: randomUUID(), ttlMs: 1_000 })
      .catch((e: unknown) => e)) as LeaseError;
    await b.close();
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/^\[leasekit\] \[dynamodb\] acquire "k": the lock table does not exist/);
    expect((error.cause as Error).name).toBe('ResourceNotFoundException');
  });

  it('an unreachable endpoint is a retryable BACKEND_UNAVAILABLE', async () => {
    const port = await getFreePort();
    const b = createDynamoDbBackend({
      clientConfig: { ...clientConfig(), endpoint: `http://127.0.0.1:${port}` },
      tableName: table.tableName,
    });
    const error = (await b
      .renew({ key: 'k', token: randomUUID() }, 1_000)
      .catch((e: unknown) => e)) as LeaseError;
    await b.close();
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/^\[leasekit\] \[dynamodb\] renew "k": /);
  });

  it('classifyError maps throttling, 5xx and timeouts to retryable, the rest not, keeping the cause', () => {
    const meta = { $metadata: { httpStatusCode: 400 } };
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', ...meta });
    const internal = new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 500 } });
    const unavailable = Object.assign(new Error('busy'), {
      name: 'ServiceUnavailable',
      $metadata: { httpStatusCode: 503 },
    });
    const throttling = Object.assign(new Error('rate'), {
      name: 'ThrottlingException',
      $retryable: { throttling: true },
    });
    const timeout = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    for (const cause of [throttled, internal, unavailable, throttling, timeout, reset]) {
      const error = classifyError(cause, 'renew', 'k');
      expect(error.code).toBe('BACKEND_UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.cause).toBe(cause);
      expect(error.message).toMatch(/^\[leasekit\] \[dynamodb\] renew "k": /);
    }
    expect(classifyError(timeout, 'acquire').message).toMatch(/outcome is unknown/);
    const denied = Object.assign(new Error('no'), { name: 'AccessDeniedException', $fault: 'client' });
    expect(classifyError(denied, 'acquire')).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: false });
    const invalid = Object.assign(new Error('bad key'), { name: 'ValidationException', $fault: 'client' });
    expect(classifyError(invalid, 'acquire')).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
    const condition = Object.assign(new Error('failed'), { name: 'ConditionalCheckFailedException' });
    expect(classifyError(condition, 'release')).toMatchObject({ code: 'NOT_HOLDER', retryable: false });
  });

  it.each([
    ['no tableName', {}],
    ['a bad tableName', { tableName: 'a b' }],
    ['client and clientConfig', { tableName: 'locks', client: new DynamoDBClient({}), clientConfig: {} }],
    ['gcAfter under an hour', { tableName: 'locks', gcAfter: '10m' }],
    ['an unknown takeover rule', { tableName: 'locks', takeover: 'fast' }],
    ['maxObservations 0', { tableName: 'locks', maxObservations: 0 }],
    ['a partitionKey that clashes with an attribute', { tableName: 'locks', partitionKey: 'token' }],
    ['a gcAttribute that clashes with an attribute', { tableName: 'locks', gcAttribute: 'fence' }],
  ])('refuses %s with a clear message', (_label, options) => {
    let error: unknown;
    try {
      createDynamoDbBackend(options as never);
    } catch (caught) {
      error = caught;
    }
    expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toMatch(/^\[leasekit\] \[dynamodb\] configure: .*must/);
  });
});
