/**
 * The HTTP lock service: over memory (the memory row: an in-process store cannot span client
 * processes, so they share it through one service) and over Redis, killed and restarted mid-run.
 */
import { type RedisServer, startRedisServers } from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLength, runScenario, type ScenarioOptions, sleep } from './harness.js';
import { type LockService, startLockService } from './lock-service.js';
import { FaultProxy } from './proxy.js';

const TTL = 1_000;
const PAUSE = 4_000;
type Fault = NonNullable<ScenarioOptions['fault']>;

function scenario(
  backend: string,
  baseUrl: () => string,
  key: string,
  name: string,
  inside: boolean,
  fencing: boolean,
  options: { durationMs?: number; fault?: Fault; ttlMs?: number } = {},
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
      ttlMs: options.ttlMs ?? TTL,
      waitMs: 3_000,
      durationMs: options.durationMs ?? runLength(3_000),
      holdMs: [5, 40],
    }),
    ...(options.fault ? { fault: options.fault } : {}),
  });
}

const pausedAtWrite: Fault = async ({ checker }) =>
  checker.arm({ at: 'write', pauseMs: PAUSE, afterWrites: 1 });

describe('memory, through the lock service', () => {
  let service: LockService;
  beforeAll(async () => {
    service = await startLockService({ LEASEKIT_BACKEND: 'memory' });
  });
  afterAll(() => service?.stop());
  const row = 'memory (via lock service)';

  it('no fault: 0 overlaps without fencing', async () => {
    const { result } = await scenario(row, () => service.url, 'm1', 'no fault', true, false);
    expect(result.acceptedWrites).toBeGreaterThan(0);
    expect(result).toMatchObject({
      overlappingSections: 0,
      overlappingWrites: 0,
      lostUpdates: 0,
      lossesLate: 0,
    });
  });

  it('holder paused past its TTL, write in flight: overlaps without fencing', async () => {
    const { result } = await scenario(
      row,
      () => service.url,
      'm2',
      'holder paused past TTL, write in flight',
      false,
      false,
      {
        durationMs: runLength(3_000) + PAUSE,
        fault: pausedAtWrite,
      },
    );
    expect(result.overlappingWrites).toBeGreaterThan(0);
    expect(result.lostUpdates).toBeGreaterThan(0);
  });

  it('holder paused past its TTL, write in flight: 0 overlapping writes with fencing', async () => {
    const { result } = await scenario(
      row,
      () => service.url,
      'm3',
      'holder paused past TTL, write in flight',
      false,
      true,
      {
        durationMs: runLength(3_000) + PAUSE,
        fault: pausedAtWrite,
      },
    );
    expect(result).toMatchObject({ overlappingWrites: 0, lostUpdates: 0, lossesLate: 0 });
    expect(result.refusedByFence).toBeGreaterThan(0);
  });
});

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
          fault: async () => {
            await sleep(1_500);
            await service.restart(300);
          },
        },
      );
      expect(result).toMatchObject({
        overlappingSections: 0,
        overlappingWrites: 0,
        lostUpdates: 0,
        lossesLate: 0,
      });
      expect(result.acceptedWrites).toBeGreaterThan(0);
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
          durationMs: runLength(3_000) + PAUSE,
          fault: pausedAtWrite,
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
      );
      expect(result).toMatchObject({
        overlappingSections: 0,
        overlappingWrites: 0,
        lostUpdates: 0,
        lossesLate: 0,
      });
      expect(result.acceptedWrites).toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await service.stop();
    }
  });
});
