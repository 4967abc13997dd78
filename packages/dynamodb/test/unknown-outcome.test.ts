import { randomUUID } from 'node:crypto';
import { DynamoDBClient, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { createLocker, isLeaseError } from '@leasekit/core';
import { describe, expect, it } from 'vitest';
import { createDynamoDbBackend } from '../src/index.js';
import { clientConfig, key, useBackends, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-unknown');
const backend = useBackends(table.tableName);

/**
 * A client whose acquire writes (and the renewal by which a retry reclaims a landed one) reach
 * DynamoDB Local and are applied, but whose answers are lost while `dropping` is on (as a request
 * timeout after the request was sent): every attempt has an unknown outcome. Releases go through.
 */
function droppingAcquires() {
  const client = new DynamoDBClient(clientConfig());
  const faults = { dropping: true, dropped: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as Partial<UpdateItemCommandInput>;
      // Acquires, and the renewal by which a retry reclaims a landed acquire; not releases.
      const acquire =
        context.commandName === 'UpdateItemCommand' &&
        input.UpdateExpression?.includes('REMOVE #token') !== true;
      if (faults.dropping && acquire) {
        faults.dropped++;
        throw Object.assign(new Error('socket timed out after the request was sent'), {
          name: 'TimeoutError',
        });
      }
      return result;
    },
    { step: 'initialize', name: 'leasekitDropAcquireAnswers' },
  );
  return { client, faults };
}

describe('an acquire whose every attempt times out after landing', () => {
  it('is released by its token afterwards, so an infinite lease does not stay locked', async () => {
    const { client, faults } = droppingAcquires();
    const locker = createLocker(createDynamoDbBackend({ client, tableName: table.tableName }), {
      ttl: Infinity,
      retry: { initial: '20ms', max: '50ms' },
    });
    const k = key('unknown-final');
    const error = await locker.acquire(k, { wait: '300ms' }).catch((e: unknown) => e);
    expect(isLeaseError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(faults.dropped).toBeGreaterThanOrEqual(1);
    await locker.close(); // waits for the release of the last attempt's token
    client.destroy();
    // The write landed (the item exists, its fence was drawn), and nobody holds the key now.
    const info = await backend().inspect(k);
    expect(info).toMatchObject({ held: false });
    expect(info?.fence).toBeGreaterThan(0);
    expect((await backend().tryAcquire({ key: k, token: randomUUID(), ttlMs: 1_000 })).status).toBe(
      'acquired',
    );
  });

  it('a single attempt (tryAcquire) is released the same way', async () => {
    const { client } = droppingAcquires();
    const locker = createLocker(createDynamoDbBackend({ client, tableName: table.tableName }), {
      ttl: Infinity,
    });
    const k = key('unknown-try');
    await expect(locker.tryAcquire(k)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await locker.close();
    client.destroy();
    expect(await backend().inspect(k)).toMatchObject({ held: false });
  });
});
