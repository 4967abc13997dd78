/**
 * DynamoDB (DynamoDB Local, started once for the file): the holder stalls and is taken over,
 * the emulator is paused mid-run (SIGSTOP of the Java process), requests reset after forwarding.
 * The bounded run (CI) uses a 3 s TTL and runs its scenarios side by side (each on a table of its
 * own); the long run adds the 1 s TTL and the emulator pause (which stops every scenario's
 * store, so the long run goes one scenario at a time).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLockTable } from '@leasekit/dynamodb';
import { DYNAMODB_LOCAL_CREDENTIALS, type DynamoDbLocalServer, startDynamoDbLocal } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  BOUNDED,
  LONG,
  LONG_ONLY,
  MODE,
  runLength,
  runScenario,
  type ScenarioOptions,
  scenarioIt,
  sleep,
  untilWrites,
} from './harness.js';
import { FaultProxy } from './proxy.js';

/** The bounded run's TTL: long enough that load cannot make a loss signal late. */
const TTL = 3_000;
const SHORT_TTL = 1_000;
/** Past the TTL, with room for the observed takeover (one lease on the taker's clock) and a write. */
const pauseFor = (ttlMs: number) => ttlMs * 3 + 2_000;
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
  options: { ttlMs: number; durationMs?: number; fault?: Fault; viaProxy?: boolean },
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
        // A third of the TTL, 500 ms at least: DynamoDB Local answers slowly on a loaded machine.
        requestTimeoutMs: Math.max(500, options.ttlMs / 3),
      },
      ttlMs: options.ttlMs,
      waitMs: options.ttlMs * 3 + 1_000,
      durationMs: options.durationMs ?? runLength(5_000),
      holdMs: [5, 40],
    }),
    ...(options.fault ? { fault: options.fault } : {}),
  });
}

const pausedAtWrite =
  (ttlMs: number): Fault =>
  async ({ checker }) =>
    checker.arm({ at: 'write', pauseMs: pauseFor(ttlMs), afterWrites: 1 });

const noOverlap = { overlappingSections: 0, overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 };

const group = LONG ? describe : describe.concurrent;

group(`dynamodb (${MODE} run)`, () => {
  for (const [ttlMs, modes] of [
    [TTL, BOUNDED],
    [SHORT_TTL, LONG_ONLY],
  ] as const) {
    scenarioIt(
      modes,
      `TTL ${ttlMs} ms, holder stalls past its TTL and is taken over, write in flight: overlaps without fencing`,
      async () => {
        const { result } = await scenario('holder paused past TTL, write in flight', false, false, {
          ttlMs,
          durationMs: runLength(5_000) + pauseFor(ttlMs),
          fault: pausedAtWrite(ttlMs),
        });
        expect(result.overlappingWrites).toBeGreaterThan(0);
        expect(result.lostUpdates).toBeGreaterThan(0);
      },
    );

    scenarioIt(
      modes,
      `TTL ${ttlMs} ms, holder stalls past its TTL and is taken over, write in flight: 0 overlapping writes with fencing`,
      async () => {
        const { result } = await scenario('holder paused past TTL, write in flight', false, true, {
          ttlMs,
          durationMs: runLength(5_000) + pauseFor(ttlMs),
          fault: pausedAtWrite(ttlMs),
        });
        expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
        expect(result.refusedByFence).toBeGreaterThan(0);
      },
    );

    // The proxy is the file's: only this scenario goes through it.
    scenarioIt(
      modes,
      `TTL ${ttlMs} ms, proxy: 10% of requests reset after forwarding: 0 overlaps without fencing`,
      async () => {
        proxy.set({ resetAfterForward: 0.1 });
        try {
          const { result } = await scenario('proxy: 10% of requests reset after forwarding', true, false, {
            ttlMs,
            viaProxy: true,
          });
          expect(result).toMatchObject(noOverlap);
          if (LONG) expect(result.acceptedWrites).toBeGreaterThan(0);
        } finally {
          proxy.set({});
        }
      },
    );
  }

  scenarioIt(LONG_ONLY, `TTL ${SHORT_TTL} ms, no fault: 0 overlaps without fencing`, async () => {
    const { result } = await scenario('no fault', true, false, { ttlMs: SHORT_TTL });
    expect(result.acceptedWrites).toBeGreaterThan(0);
    expect(result).toMatchObject(noOverlap);
  });

  scenarioIt(
    LONG_ONLY,
    `TTL ${SHORT_TTL} ms, emulator paused (SIGSTOP) 2 s mid-run: 0 overlaps without fencing, losses before the deadline`,
    async () => {
      const { result } = await scenario('emulator paused 2 s mid-run', true, false, {
        ttlMs: SHORT_TTL,
        fault: async ({ checker }) => {
          await untilWrites(checker, 3);
          server.pause();
          await sleep(2_000);
          server.resume();
        },
      });
      expect(result).toMatchObject(noOverlap);
    },
  );
});
