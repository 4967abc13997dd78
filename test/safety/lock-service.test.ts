/**
 * The HTTP lock service: over memory (the memory row: an in-process store cannot span client
 * processes, so they share it through one service) and over Redis, killed and restarted mid-run.
 * The bounded run (CI): the paused holder over memory at a 3 s TTL; the long run adds the 1 s TTL,
 * the restart and the reset proxy.
 */
import { type RedisServer, startRedisServers } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BOUNDED,
  LONG,
  LONG_ONLY,
  MODE,
  runLength,
  runScenario,
  type ScenarioOptions,
  scenarioIt,
  untilWrites,
} from './harness.js';
import { type LockService, startLockService } from './lock-service.js';
import { FaultProxy } from './proxy.js';

/** The bounded run's TTL: long enough that load cannot make a loss signal late. */
const TTL = 3_000;
const SHORT_TTL = 1_000;
/** Past the TTL, with room for a waiter to take over and write meanwhile. */
const pauseFor = (ttlMs: number) => ttlMs * 2 + 2_000;
type Fault = NonNullable<ScenarioOptions['fault']>;

function scenario(
  backend: string,
  baseUrl: () => string,
  key: string,
  name: string,
  inside: boolean,
  fencing: boolean,
  options: { durationMs?: number; fault?: Fault; ttlMs: number },
) {
  return runScenario({
    backend,
    scenario: name,
    inside,
    fencing,
    clients: 3,
    client: () => ({
      key,
      backend: { kind: 'http', baseUrl: baseUrl() },
      ttlMs: options.ttlMs,
      waitMs: options.ttlMs + 2_000,
      durationMs: options.durationMs ?? runLength(3_000),
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

group(`memory, through the lock service (${MODE} run)`, () => {
  let service: LockService;
  beforeAll(async () => {
    service = await startLockService({ LEASEKIT_BACKEND: 'memory' });
  });
  afterAll(() => service?.stop());
  const row = 'memory (via lock service)';

  for (const [ttlMs, modes, suffix] of [
    [TTL, BOUNDED, ''],
    [SHORT_TTL, LONG_ONLY, '-short'],
  ] as const) {
    scenarioIt(
      modes,
      `TTL ${ttlMs} ms, holder paused past its TTL, write in flight: overlaps without fencing`,
      async () => {
        const { result } = await scenario(
          row,
          () => service.url,
          `m2${suffix}`,
          'holder paused past TTL, write in flight',
          false,
          false,
          {
            ttlMs,
            durationMs: runLength(3_000) + pauseFor(ttlMs),
            fault: pausedAtWrite(ttlMs),
          },
        );
        expect(result.overlappingWrites).toBeGreaterThan(0);
        expect(result.lostUpdates).toBeGreaterThan(0);
      },
    );

    scenarioIt(
      modes,
      `TTL ${ttlMs} ms, holder paused past its TTL, write in flight: 0 overlapping writes with fencing`,
      async () => {
        const { result } = await scenario(
          row,
          () => service.url,
          `m3${suffix}`,
          'holder paused past TTL, write in flight',
          false,
          true,
          {
            ttlMs,
            durationMs: runLength(3_000) + pauseFor(ttlMs),
            fault: pausedAtWrite(ttlMs),
          },
        );
        expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
        expect(result.refusedByFence).toBeGreaterThan(0);
      },
    );
  }

  scenarioIt(LONG_ONLY, `TTL ${SHORT_TTL} ms, no fault: 0 overlaps without fencing`, async () => {
    const { result } = await scenario(row, () => service.url, 'm1', 'no fault', true, false, {
      ttlMs: SHORT_TTL,
    });
    expect(result.acceptedWrites).toBeGreaterThan(0);
    expect(result).toMatchObject(noOverlap);
  });
});

// Long run only (the bounded run registers none of it).
if (LONG)
  describe('lock service over Redis (3 nodes)', () => {
    let nodes: RedisServer[];
    beforeAll(async () => {
      nodes = await startRedisServers(3);
    });
    afterAll(async () => {
      await Promise.all((nodes ?? []).map((n) => n.stop()));
    });
    const row = 'lock service over redis';
    const env = () => ({
      LEASEKIT_BACKEND: 'redis',
      LEASEKIT_REDIS_URLS: nodes.map((n) => n.url).join(','),
      // Every instance over a shared store must derive the same store tokens (a restart too).
      LEASEKIT_TOKEN_SECRET: 'safety-suite-token-secret-0123456789abcdef',
    });

    it('service killed and restarted mid-run (down 300 ms): 0 overlaps without fencing', async () => {
      const service = await startLockService(env());
      try {
        const { result } = await scenario(
          row,
          () => service.url,
          's1',
          'service killed and restarted',
          true,
          false,
          {
            ttlMs: 2_000,
            durationMs: runLength(4_000),
            fault: async ({ checker }) => {
              await untilWrites(checker, 3);
              await service.restart(300);
            },
          },
        );
        expect(result).toMatchObject(noOverlap);
        expect(result.acceptedWrites).toBeGreaterThan(3);
      } finally {
        await service.stop();
      }
    });

    it('holder paused past its TTL, write in flight: 0 overlapping writes with fencing', async () => {
      const service = await startLockService(env());
      try {
        const { result } = await scenario(
          row,
          () => service.url,
          's2',
          'holder paused past TTL, write in flight',
          false,
          true,
          {
            ttlMs: SHORT_TTL,
            durationMs: runLength(3_000) + pauseFor(SHORT_TTL),
            fault: pausedAtWrite(SHORT_TTL),
          },
        );
        expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
        expect(result.refusedByFence).toBeGreaterThan(0);
      } finally {
        await service.stop();
      }
    });

    it('proxy: 10% of requests to the service reset after forwarding: 0 overlaps without fencing', async () => {
      const service = await startLockService(env());
      const proxy = await new FaultProxy('127.0.0.1', Number(new URL(service.url).port)).listen();
      try {
        proxy.set({ resetAfterForward: 0.1 });
        const { result } = await scenario(
          row,
          () => `http://127.0.0.1:${proxy.port}`,
          's3',
          'proxy: 10% of requests reset after forwarding',
          true,
          false,
          { ttlMs: SHORT_TTL },
        );
        expect(result).toMatchObject(noOverlap);
        expect(result.acceptedWrites).toBeGreaterThan(0);
      } finally {
        await proxy.close();
        await service.stop();
      }
    });
  });
