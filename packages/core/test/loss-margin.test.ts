import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LeaseLostError } from '../src/index.js';
import { useLockers } from './lockers.js';
import { ScriptedBackend } from './scripted-backend.js';

const locker = useLockers({ wait: 0 });

beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'],
  });
});

/** When (ms after the acquire was sent) the loss signal of a timeout lock of `ttl` fires. */
async function lossAfter(ttl: number, options: { lossMargin?: number } = {}): Promise<number> {
  const backend = new ScriptedBackend();
  const sent = performance.now();
  const lease = await locker(backend, { ttl, ...options }).acquire('k');
  let lostAt = Infinity;
  lease.signal.addEventListener('abort', () => {
    lostAt = performance.now();
  });
  await vi.advanceTimersByTimeAsync(ttl);
  expect((lease.signal.reason as LeaseLostError).reason).toBe('expired');
  return lostAt - sent;
}

describe('loss margin', () => {
  it('refuses a margin of 0 (loss could then be declared only once the lease may have expired)', () => {
    const backend = new ScriptedBackend();
    expect(() => createLocker(backend, { lossMargin: 0 })).toThrow(/lossMargin must be more than 0/);
    expect(() => createLocker(backend, { lossMargin: '0ms' })).toThrow(/lossMargin must be more than 0/);
    expect(() => createLocker(backend, { lossMargin: 1 }).close()).not.toThrow();
  });

  it('by default keeps a floor of 20 ms before the local deadline (event-loop jitter), 5% above 400 ms', async () => {
    // TTL 200 ms: deadline = 200 - (2 + 2) drift = 196; 5% would be 10 ms, the floor makes it 20.
    expect(await lossAfter(200)).toBe(196 - 20);
    // TTL 1 s: deadline 988, 5% = 50 ms.
    expect(await lossAfter(1_000)).toBe(988 - 50);
  });

  it('never takes more than a quarter of a very short TTL, and an explicit margin is kept as given', async () => {
    // TTL 40 ms: deadline 40 - 2.4 = 37.6; a 20 ms floor would leave 17.6 ms, so the cap (10 ms) applies.
    expect(await lossAfter(40)).toBe(Math.ceil(37.6 - 10)); // fake timers fire on whole ms
    expect(await lossAfter(200, { lossMargin: 5 })).toBe(196 - 5);
  });
});
