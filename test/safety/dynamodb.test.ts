/**
 * DynamoDB (DynamoDB Local, started once for the file): the holder stalls and is taken over,
 * the emulator is paused mid-run (SIGSTOP of the Java process), requests reset after forwarding.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLockTable } from '@leasekit/dynamodb';
import { DYNAMODB_LOCAL_CREDENTIALS, type DynamoDbLocalServer, startDynamoDbLocal } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLength, runScenario, type ScenarioOptions, sleep } from './harness.js';
import { FaultProxy } from './proxy.js';

const TTL = 1_000;
const PAUSE = 5_000;
const ROW = 'dynamodb';
type Fault = NonNullable<ScenarioOptions['fault']>;

let server: DynamoDbLocalServer;
let proxy: FaultProxy;
let tables = 0;

beforeAll(async () => {
  server = await startDynamoDbLocal();
  proxy = await new FaultProxy('127.0.0.1', server.port).listen();
}, 90_000);
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

async function scenario(
  name: string,
  inside: boolean,
  fencing: boolean,
  options: { durationMs?: number; fault?: Fault; viaProxy?: boolean } = {},
) {
  tables += 1;
  const table = `safety-${tables}`;
  const client = new DynamoDBClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: DYNAMODB_LOCAL_CREDENTIALS,
  });
  await createLockTable({ client, tableName: table });
  client.destroy();
  return runScenario({
    backend: ROW,
    scenario: name,
    inside,
    fencing,
    clients: 3,
    client: () => ({
      key: 'counter',
      backend: {
        kind: 'dynamodb',
        endpoint: options.viaProxy ? `http://127.0.0.1:${proxy.port}` : server.url,
        table,
        requestTimeoutMs: 500,
      },
      ttlMs: TTL,
      waitMs: 4_000,
      durationMs: options.durationMs ?? runLength(5_000),
      holdMs: [5, 40],
    }),
    ...(options.fault ? { fault: options.fault } : {}),
  });
}

const pausedAtWrite: Fault = async ({ checker }) =>
  checker.arm({ at: 'write', pauseMs: PAUSE, afterWrites: 1 });

describe('dynamodb', () => {
  it('no fault: 0 overlaps without fencing', async () => {
    const { result } = await scenario('no fault', true, false);
    expect(result.acceptedWrites).toBeGreaterThan(0);
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
  });

  it('holder stalls past its TTL and is taken over, write in flight: overlaps without fencing', async () => {
    const { result } = await scenario('holder paused past TTL, write in flight', false, false, {
      durationMs: runLength(5_000) + PAUSE,
      fault: pausedAtWrite,
    });
    expect(result.overlappingWrites).toBeGreaterThan(0);
    expect(result.lostUpdates).toBeGreaterThan(0);
  });

  it('holder stalls past its TTL and is taken over, write in flight: 0 overlapping writes with fencing', async () => {
    const { result } = await scenario('holder paused past TTL, write in flight', false, true, {
      durationMs: runLength(5_000) + PAUSE,
      fault: pausedAtWrite,
    });
    expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
    expect(result.refusedByFence).toBeGreaterThan(0);
  });

  it('emulator paused (SIGSTOP) 2 s mid-run: 0 overlaps without fencing, losses before the deadline', async () => {
    const { result } = await scenario('emulator paused 2 s mid-run', true, false, {
      fault: async () => {
        await sleep(1_000);
        server.pause();
        await sleep(2_000);
        server.resume();
      },
    });
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
  });

  it('proxy: 10% of requests reset after forwarding: 0 overlaps without fencing', async () => {
    proxy.set({ resetAfterForward: 0.1 });
    try {
      const { result } = await scenario('proxy: 10% of requests reset after forwarding', true, false, {
        viaProxy: true,
      });
      expect(result).toMatchObject({
        overlappingSections: 0,
        overlappingWrites: 0,
        lostUpdates: 0,
        lossesLate: 0,
      });
      expect(result.acceptedWrites).toBeGreaterThan(0);
    } finally {
      proxy.set({});
    }
  });
});
