/**
 * DynamoDB (AWS's DynamoDB Local, one JVM on the server core): leasekit against the floor (one
 * conditional write to take, one to give back, no library) and the npm `dynamodb-lock-client`.
 * Every contender gets its own table on the same server, one `DynamoDBClient` with the same
 * settings (`maxAttempts: 1`, keep-alive), the same keys and the same lease duration.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient, type DynamoDBClientConfig, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocument } from '@aws-sdk/lib-dynamodb';
import { createLocker, type Locker } from '@leasekit/core';
import { createDynamoDbBackend, createLockTable } from '@leasekit/dynamodb';
import {
  DYNAMODB_LOCAL_CREDENTIALS,
  type DynamoDbLocalServer,
  dynamoDbUrlFromEnv,
  MissingBinaryError,
  startDynamoDbLocal,
} from '@leasekit/testing';
import { pinServer } from '../pin.js';
import { defineScenario, type LockContenderSpec, lockContender, uniformKeys } from '../registry.js';
import { type Contender, type RunContext, type Scenario, SkipScenario } from '../types.js';
import { packageVersion } from '../versions.js';

/** Lease duration for every contender. */
const TTL_MS = 2_000;

interface DynamoEnv {
  readonly clientConfig: DynamoDBClientConfig;
  readonly server: DynamoDbLocalServer | undefined;
  /** One table per contender: their items have different shapes. */
  readonly tables: { readonly leasekit: string; readonly floor: string; readonly peer: string };
}

async function startDynamo(context: RunContext): Promise<DynamoEnv> {
  let server: DynamoDbLocalServer | undefined;
  const fromEnv = dynamoDbUrlFromEnv();
  if (!fromEnv) {
    try {
      // The full tiered JIT (not the tests' quick C1-only default): peak speed after the warm-up.
      server = await startDynamoDbLocal({ jvmArgs: ['-Xms256m', '-Xmx1g'] });
    } catch (error) {
      if (error instanceof MissingBinaryError) throw new SkipScenario(error.message);
      throw error;
    }
    await pinServer(server.pid);
  }
  const clientConfig: DynamoDBClientConfig = {
    endpoint: fromEnv ?? server!.url,
    region: 'us-east-1',
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
    maxAttempts: 1,
  };
  const run = randomUUID().slice(0, 8);
  const tables = {
    leasekit: `bench-leasekit-${run}`,
    floor: `bench-floor-${run}`,
    peer: `bench-dlc-${run}`,
  };
  const admin = new DynamoDBClient(clientConfig);
  try {
    for (const tableName of Object.values(tables)) await createLockTable({ client: admin, tableName });
    // Warm the server's JIT on the same kind of request, so the first contender is not penalised.
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; i < 500; i++) {
          await admin.send(
            new UpdateItemCommand({
              TableName: tables.floor,
              Key: { key: { S: `warm-${worker}-${i % 20}` } },
              UpdateExpression: 'SET #n = if_not_exists(#n, :zero) + :one',
              ConditionExpression: 'attribute_not_exists(#t) OR #t = :t',
              ExpressionAttributeNames: { '#n': 'n', '#t': 't' },
              ExpressionAttributeValues: { ':zero': { N: '0' }, ':one': { N: '1' }, ':t': { S: 'x' } },
            }),
          );
        }
      }),
    );
    context.log(`DynamoDB Local warmed up: 4000 writes in ${Math.round(performance.now() - started)} ms`);
  } finally {
    admin.destroy();
  }
  return { clientConfig, server, tables };
}

async function stopDynamo(env: DynamoEnv): Promise<void> {
  await env.server?.stop();
}

const serverPids = (env: DynamoEnv): readonly number[] => (env.server ? [env.server.pid] : []);

// ---- leasekit ----

interface LeasekitState {
  readonly locker: Locker;
  readonly env: DynamoEnv;
}

const leasekit: Contender<DynamoEnv, LeasekitState> = lockContender({
  name: 'leasekit (dynamodb)',
  role: 'leasekit',
  note: `createLocker(createDynamoDbBackend({ clientConfig, tableName }), { ttl: ${TTL_MS}, mode: 'lease' }): acquire(key, { wait: '60s' }) then lease.release(); one conditional UpdateItem each; waiters poll with the default backoff (25 ms doubling to 1 s, full jitter)`,
  setup: (env) => ({
    env,
    locker: createLocker(
      createDynamoDbBackend({ clientConfig: env.clientConfig, tableName: env.tables.leasekit }),
      {
        ttl: TTL_MS,
        mode: 'lease',
      },
    ),
  }),
  async acquire(state, key) {
    const lease = await state.locker.acquire(key, { wait: '60s' });
    return () => lease.release();
  },
  teardown: (state) => state.locker.close(),
  serverPids: (state) => serverPids(state.env),
} satisfies LockContenderSpec<DynamoEnv, LeasekitState>);

// ---- floor ----

interface FloorState {
  readonly client: DynamoDBClient;
  readonly env: DynamoEnv;
}

const conditionFailed = (error: unknown) =>
  (error as { name?: string } | null)?.name === 'ConditionalCheckFailedException';

const floor: Contender<DynamoEnv, FloorState> = lockContender({
  name: 'floor (conditional writes)',
  role: 'floor',
  note: 'no library, the same fenced protocol in its least form: UpdateItem SET token, until, fence = if_not_exists(fence, 0) + 1 IF attribute_not_exists(token) OR until < now (wall clock); release UpdateItem REMOVE token, until IF token = :token (the item and its fence stay); on "held", the same backoff as leasekit (25 ms doubling to 1 s, full jitter); no renewal, record versions, skew safety, unknown-outcome handling or validation',
  setup: (env) => ({ env, client: new DynamoDBClient(env.clientConfig) }),
  async acquire({ client, env }, key) {
    const token = randomUUID();
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: env.tables.floor,
            Key: { key: { S: key } },
            UpdateExpression: 'SET #t = :t, #u = :until, #f = if_not_exists(#f, :zero) + :one',
            ConditionExpression: 'attribute_not_exists(#t) OR #u < :now',
            ExpressionAttributeNames: { '#t': 'token', '#u': 'until', '#f': 'fence' },
            ExpressionAttributeValues: {
              ':t': { S: token },
              ':until': { N: String(now + TTL_MS) },
              ':now': { N: String(now) },
              ':zero': { N: '0' },
              ':one': { N: '1' },
            },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        break;
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        await sleep(Math.random() * Math.min(1_000, 25 * 2 ** attempt));
      }
    }
    return async () => {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: env.tables.floor,
            Key: { key: { S: key } },
            UpdateExpression: 'REMOVE #t, #u',
            ConditionExpression: '#t = :t',
            ExpressionAttributeNames: { '#t': 'token', '#u': 'until' },
            ExpressionAttributeValues: { ':t': { S: token } },
          }),
        );
        return true;
      } catch (error) {
        if (conditionFailed(error)) return false;
        throw error;
      }
    };
  },
  teardown: (state) => state.client.destroy(),
  serverPids: (state) => serverPids(state.env),
} satisfies LockContenderSpec<DynamoEnv, FloorState>);

// ---- dynamodb-lock-client ----

type Callback<T> = (error: Error | undefined, value?: T) => void;
interface DlcLock {
  readonly fencingToken: number;
  release(callback: Callback<void>): void;
  on(event: 'error', listener: (error: Error) => void): void;
}
interface DlcFailOpen {
  acquireLock(id: string, callback: Callback<DlcLock>): void;
}
interface DlcModule {
  FailOpen: new (config: Record<string, unknown>) => DlcFailOpen;
}
const dlc = createRequire(import.meta.url)('dynamodb-lock-client') as DlcModule;

interface PeerState {
  readonly client: DynamoDBClient;
  readonly lockClient: DlcFailOpen;
  readonly env: DynamoEnv;
}

/**
 * dynamodb-lock-client is written for aws-sdk v2's DocumentClient (callbacks, `error.code`).
 * This hands it the v3 DocumentClient with that shape: the same calls, with `code` set from
 * the v3 error's `name` (what it tests for `ConditionalCheckFailedException`).
 */
function v2StyleDocumentClient(doc: DynamoDBDocument) {
  const adapt =
    <P>(call: (params: P) => Promise<unknown>) =>
    (params: P, callback: Callback<unknown>) => {
      call(params).then(
        (data) => callback(undefined, data),
        (error: Error & { code?: string }) => {
          error.code ??= error.name;
          callback(error);
        },
      );
    };
  return {
    get: adapt((params: Parameters<DynamoDBDocument['get']>[0]) => doc.get(params)),
    put: adapt((params: Parameters<DynamoDBDocument['put']>[0]) => doc.put(params)),
    delete: adapt((params: Parameters<DynamoDBDocument['delete']>[0]) => doc.delete(params)),
  };
}

const peer: Contender<DynamoEnv, PeerState> = lockContender({
  name: 'dynamodb-lock-client',
  role: 'peer',
  note: `dynamodb-lock-client ${packageVersion('dynamodb-lock-client')} FailOpen (its lease lock with fencing tokens) { leaseDurationMs: ${TTL_MS}, heartbeatPeriodMs: ${Math.round(TTL_MS / 3)}, retryCount: 1000, trustLocalTime: false } over @aws-sdk/lib-dynamodb ${packageVersion('@aws-sdk/lib-dynamodb')} (its peer aws-sdk v2 swapped for the v3 DocumentClient through a callback adapter); acquire = consistent GetItem, then PutItem (after waiting the item's lease duration when one exists: 1 ms once released); release = PutItem`,
  setup(env) {
    const client = new DynamoDBClient(env.clientConfig);
    const lockClient = new dlc.FailOpen({
      dynamodb: v2StyleDocumentClient(DynamoDBDocument.from(client)),
      lockTable: env.tables.peer,
      partitionKey: 'key',
      leaseDurationMs: TTL_MS,
      heartbeatPeriodMs: Math.round(TTL_MS / 3),
      retryCount: 1000,
      trustLocalTime: false,
    });
    return { client, lockClient, env };
  },
  async acquire({ lockClient }, key) {
    const lock = await new Promise<DlcLock>((resolve, reject) =>
      lockClient.acquireLock(key, (error, acquired) => (error ? reject(error) : resolve(acquired!))),
    );
    lock.on('error', () => {}); // a failed heartbeat after release would otherwise crash the bench
    return () =>
      new Promise<boolean>((resolve, reject) =>
        lock.release((error) => (error ? reject(error) : resolve(true))),
      );
  },
  teardown: (state) => state.client.destroy(),
  serverPids: (state) => serverPids(state.env),
} satisfies LockContenderSpec<DynamoEnv, PeerState>);

const contenders: readonly Contender<DynamoEnv>[] = [leasekit, floor, peer];

export const dynamodbScenarios: readonly Scenario<DynamoEnv>[] = [
  defineScenario<DynamoEnv>({
    id: 'dynamodb/acquire-release',
    title: 'acquire+release, sequential (DynamoDB Local)',
    description:
      'One caller takes and releases one uncontended key, over and over: round trips per lock cycle. The floor needs two conditional writes (take with a fence, give back); leasekit needs the same two; dynamodb-lock-client a read and two writes.',
    load: { mode: 'latency', durationMs: 1_500 },
    setup: startDynamo,
    teardown: stopDynamo,
    contenders,
  }),
  defineScenario<DynamoEnv>({
    id: 'dynamodb/hot-key',
    title: 'hot key: 8 workers on 1 key, 1 ms hold (DynamoDB Local)',
    description:
      'Eight workers contend for one key and hold it 1 ms: contended throughput, and the wait for the lock (p50/p99). No store here can notify waiters, so each contender polls in its own way.',
    load: { mode: 'throughput', workers: 8, durationMs: 2_000 },
    holdMs: 1,
    latency: 'wait',
    setup: startDynamo,
    teardown: stopDynamo,
    contenders,
  }),
  defineScenario<DynamoEnv>({
    id: 'dynamodb/many-keys',
    title: '16 workers on 1,000 keys (DynamoDB Local)',
    description:
      'Sixteen concurrent workers each take and release a key drawn from 1,000 (little contention): throughput of many independent locks against one server.',
    load: { mode: 'throughput', workers: 16, durationMs: 1_500 },
    keys: uniformKeys('bench:ddb:', 1_000),
    setup: startDynamo,
    teardown: stopDynamo,
    contenders,
  }),
];
