import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoDbBackend } from '../src/index.js';
import { clientConfig, key, useBackends, useLockTable } from './helpers.js';

const table = useLockTable('leasekit-fallback');
const backend = useBackends(table.tableName);

const TTL = 2_000;

/**
 * A client that talks to DynamoDB Local as usual, except that a failed condition comes back
 * without the item (as from a store or proxy that does not honour `ReturnValuesOnConditionCheckFailure`),
 * so the backend falls back to a read; and `beforeRead` runs before that read is sent.
 */
function itemlessClient() {
  const client = new DynamoDBClient(clientConfig());
  const hooks: { beforeRead: (() => Promise<void>) | undefined } = { beforeRead: undefined };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetItemCommand' && hooks.beforeRead) {
        const run = hooks.beforeRead;
        hooks.beforeRead = undefined;
        await run();
      }
      try {
        return await next(args);
      } catch (error) {
        if ((error as { name?: string }).name === 'ConditionalCheckFailedException')
          delete (error as { Item?: unknown }).Item;
        throw error;
      }
    },
    { step: 'initialize', name: 'leasekitItemlessConditionFailures' },
  );
  return { client, hooks };
}

describe('the fallback read after a failed condition that returned no item', () => {
  it('times its observation from the read’s answer: a version written while the read was on its way is not taken over early', async () => {
    const holder = backend();
    const { client, hooks } = itemlessClient();
    const contender = createDynamoDbBackend({ client, tableName: table.tableName });
    const k = key('fallback');
    const holderToken = randomUUID();
    expect((await holder.tryAcquire({ key: k, token: holderToken, ttlMs: TTL })).status).toBe('acquired');

    // The failed write's answer arrives; before the read goes out, TTL/2 passes and the holder
    // renews (a new record version). The read returns that version.
    let renewedAt = 0;
    const contenderToken = randomUUID();
    hooks.beforeRead = async () => {
      await sleep(TTL / 2);
      expect(await holder.renew({ key: k, token: holderToken }, TTL)).toEqual({ status: 'renewed' });
      renewedAt = performance.now();
    };
    expect((await contender.tryAcquire({ key: k, token: contenderToken, ttlMs: TTL })).status).toBe('held');
    const answered = performance.now();
    expect(renewedAt).toBeGreaterThan(0);

    // Three quarters of a lease after the read answered: the renewed version has been watched for
    // less than a lease (it was written after the failed write answered), so it is not taken over.
    // Timing it from before the read would make it look a full lease old.
    await sleep(answered + (TTL * 3) / 4 - performance.now());
    expect((await contender.tryAcquire({ key: k, token: contenderToken, ttlMs: TTL })).status).toBe('held');
    expect(await holder.inspect(k)).toMatchObject({ held: true, token: holderToken });
    expect(await holder.release({ key: k, token: holderToken })).toBe(true);
    await contender.close();
    client.destroy();
  });
});
