import { describe, expect, it } from 'vitest';
import { backoffDelay, formatMs, isLeaseError, toMs } from '../src/index.js';

describe('durations', () => {
  it.each([
    [250, 250],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 10 s ', 10_000],
    [0, 0],
  ] as const)('%s is %d ms', (input, ms) => {
    expect(toMs(input as never, 'ttl')).toBe(ms);
  });

  it.each([['-1'], ['ten'], ['5 days'], [-3], [Number.NaN], [Infinity], [null], [{}]])(
    '%s is refused',
    (input) => {
      let error: unknown;
      try {
        toMs(input as never, 'ttl');
      } catch (e) {
        error = e;
      }
      expect(isLeaseError(error, 'INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(/ttl must be/);
    },
  );

  it('accepts Infinity only when allowed', () => {
    expect(toMs(Infinity, 'wait', { allowInfinite: true })).toBe(Infinity);
  });

  it('formats for messages', () => {
    expect([formatMs(250), formatMs(1_500), formatMs(60_000), formatMs(Infinity)]).toEqual([
      '250ms',
      '1.5s',
      '1m',
      'infinite',
    ]);
  });
});

describe('backoff', () => {
  const policy = { initialMs: 10, maxMs: 1_000, maxJitterMs: Infinity };

  it('full jitter stays within [0, min(max, initial * 2^n)]', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cap = Math.min(1_000, 10 * 2 ** attempt);
      expect(backoffDelay(attempt, policy, () => 0)).toBe(cap);
      expect(backoffDelay(attempt, policy, () => 1)).toBe(0);
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, policy);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(cap);
      }
    }
  });

  it('maxJitter bounds how much is taken off (the seed SDK knobs)', () => {
    const seed = { initialMs: 200, maxMs: 5_000, maxJitterMs: 1_000 };
    expect(backoffDelay(0, seed, () => 0)).toBe(200);
    expect(backoffDelay(10, seed, () => 1)).toBe(4_000);
    expect(backoffDelay(10, seed, () => 0)).toBe(5_000);
  });

  it('does not overflow on huge attempt counts', () => {
    expect(backoffDelay(10_000, policy, () => 0)).toBe(1_000);
  });
});
