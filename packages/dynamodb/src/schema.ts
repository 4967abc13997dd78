import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { InvalidArgumentError } from '@leasekit/core';
import { BACKEND, classifyError } from './errors.js';

/** Default name of the table's partition key (a string attribute holding the lock key). */
export const DEFAULT_PARTITION_KEY = 'key';
/** Default name of the DynamoDB TTL attribute (epoch seconds), used only to garbage-collect idle items. */
export const DEFAULT_GC_ATTRIBUTE = 'gcAt';

/**
 * Fences are anchored to the wall clock: a new item's counter starts at `Date.now() *
 * FENCES_PER_MS`, and no write may take the counter above `(its writer's Date.now() +
 * FENCE_CLOCK_SLACK_MS) * FENCES_PER_MS`. So a fence never runs more than the slack ahead of the
 * clock, and an item created after a collection (which needs `gcAfter` >= 1 h of idleness) starts
 * above every fence its predecessor handed out. The README has the argument. 1024 fences per ms
 * is the largest hand-over block (core's `localHandOvers` maximum) per ms, far beyond what one key
 * sustains (DynamoDB takes at most ~1000 writes a second on one item), and keeps fences exact
 * in a double (2^53) until the year 2248.
 */
export const FENCES_PER_MS: number = 1024;
/** How far ahead of its writer's wall clock (in clock ms) the fence counter may run: 15 min. */
export const FENCE_CLOCK_SLACK_MS: number = 15 * 60_000;

/**
 * The attributes of a lock item besides the partition key and the GC attribute. One item per
 * lock key; releasing removes the holder's attributes and keeps the item (and its fence).
 */
export const ATTR = {
  /** The holder's token (a UUID per acquire). Absent: the key is free. */
  token: 'token',
  /** Record version number: a new UUID on every acquire, renew and release. */
  rvn: 'rvn',
  /** The current holding's lease duration in ms. Absent while held: an infinite lease. */
  leaseMs: 'leaseMs',
  /** The holder's wall clock at the write plus the lease duration (epoch ms). Informational, and for `takeover: 'wall-clock'`. */
  leaseUntil: 'leaseUntil',
  /** The fencing counter: seeded from the wall clock (ms × `FENCES_PER_MS`) when the item is created, +1 on each acquire, kept on release. */
  fence: 'fence',
  /** What the holder passed as `owner`. */
  owner: 'owner',
} as const;

export interface CreateLockTableOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Default `'key'`. Must match the backend's `partitionKey`. */
  readonly partitionKey?: string;
  /** TTL attribute enabled for garbage collection of idle items; `false` to leave TTL off. Default `'gcAt'`. */
  readonly gcAttribute?: string | false;
  /** Longest wait for the table to become ACTIVE, ms. Default 60 s. */
  readonly timeoutMs?: number;
}

export interface CreateLockTableResult {
  /** False when the table already existed (it is then left as it is, apart from enabling TTL). */
  readonly created: boolean;
}

/**
 * Creates the lock table if it does not exist: partition key only (a string), on-demand
 * billing, and DynamoDB TTL on the GC attribute. Waits until the table is ACTIVE. Idempotent,
 * and safe when many processes call it at once (a fleet booting): all of them succeed.
 *
 * For production, the same schema in CloudFormation / CDK / Terraform is usually preferable:
 * see the README.
 */
export async function createLockTable(options: CreateLockTableOptions): Promise<CreateLockTableResult> {
  const { client, tableName } = options;
  const partitionKey = options.partitionKey ?? DEFAULT_PARTITION_KEY;
  const gcAttribute = options.gcAttribute ?? DEFAULT_GC_ATTRIBUTE;
  let created = true;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceInUseException')
      throw classifyError(error, 'configure');
    created = false;
  }
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName })).catch((error) => {
      throw classifyError(error, 'configure');
    });
    if (Table?.TableStatus === 'ACTIVE') break;
    if (performance.now() > deadline) {
      throw classifyError(
        new Error(
          `table ${tableName} is still ${Table?.TableStatus ?? 'missing'} after ${options.timeoutMs ?? 60_000} ms`,
        ),
        'configure',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (gcAttribute !== false) {
    try {
      const status = await describeTtl(client, tableName, gcAttribute);
      if (status !== 'ENABLED' && status !== 'ENABLING') {
        try {
          await client.send(
            new UpdateTimeToLiveCommand({
              TableName: tableName,
              TimeToLiveSpecification: { AttributeName: gcAttribute, Enabled: true },
            }),
          );
        } catch (error) {
          // Several processes booting at once all saw TTL off and all asked to enable it: the
          // others' requests fail ("TimeToLive is already enabled", or on AWS a limit on TTL
          // changes). That is success if TTL is now on our attribute; anything else stands.
          const now = await describeTtl(client, tableName, gcAttribute).catch(() => undefined);
          if (now !== 'ENABLED' && now !== 'ENABLING') throw error;
        }
      }
    } catch (error) {
      throw classifyError(error, 'configure');
    }
  }
  return { created };
}

/**
 * The table's TTL status; throws `INVALID_ARGUMENT` when TTL is on (or being turned on) for
 * another attribute than `gcAttribute`.
 */
async function describeTtl(
  client: DynamoDBClient,
  tableName: string,
  gcAttribute: string,
): Promise<string | undefined> {
  const { TimeToLiveDescription } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  const status = TimeToLiveDescription?.TimeToLiveStatus;
  const current = TimeToLiveDescription?.AttributeName;
  if ((status === 'ENABLED' || status === 'ENABLING') && current !== undefined && current !== gcAttribute) {
    throw new InvalidArgumentError(
      `the table's TTL is on ${JSON.stringify(current)}, not on gcAttribute ${JSON.stringify(gcAttribute)}: pass gcAttribute: ${JSON.stringify(current)} (here and to createDynamoDbBackend)`,
      { backend: BACKEND, operation: 'configure' },
    );
  }
  return status;
}
