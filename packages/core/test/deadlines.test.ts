import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../src/backend-kit.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** The timers `setTimeout` returned from now on (fake ones, which report `hasRef()`). */
function watchTimers(): { readonly created: NodeJS.Timeout[] } {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  return {
    get created() {
      return spy.mock.results.map((result) => result.value as NodeJS.Timeout);
    },
  };
}

describe('Deadlines', () => {
  it('expires each deadline after its length, in order, and never a cancelled one', async () => {
    const deadlines = new Deadlines(100);
    const expired: string[] = [];
    deadlines.start(() => expired.push('a'));
    await vi.advanceTimersByTimeAsync(30);
    const b = deadlines.start(() => expired.push('b'));
    await vi.advanceTimersByTimeAsync(30);
    deadlines.start(() => expired.push('c'));
    b.cancel();
    expect(b.done).toBe(true);
    await vi.advanceTimersByTimeAsync(39);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(expired).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(59);
    expect(expired).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(expired).toEqual(['a', 'c']);
    expect(deadlines.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps one timer for any number of deadlines, and sets it again only when one is left to expire', async () => {
    const timers = watchTimers();
    const deadlines = new Deadlines(50);
    for (let i = 0; i < 1_000; i++) deadlines.start(() => {}).cancel();
    expect(timers.created).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(0);
    let expired = 0;
    const kept = deadlines.start(() => expired++);
    await vi.advanceTimersByTimeAsync(10);
    deadlines.start(() => expired++).cancel();
    await vi.advanceTimersByTimeAsync(40);
    expect(expired).toBe(1);
    expect(kept.done).toBe(true);
    expect(timers.created).toHaveLength(2);
  });

  it('holds the process open only while a deadline is pending', () => {
    const timers = watchTimers();
    const deadlines = new Deadlines(1_000);
    const first = deadlines.start(() => {});
    const timer = timers.created[0]!;
    expect(timer.hasRef()).toBe(true);
    first.cancel();
    expect(timer.hasRef()).toBe(false);
    const second = deadlines.start(() => {});
    const third = deadlines.start(() => {});
    expect(timers.created).toHaveLength(1);
    expect(timer.hasRef()).toBe(true);
    second.cancel();
    expect(timer.hasRef()).toBe(true);
    third.cancel();
    third.cancel(); // idempotent: counted once
    expect(timer.hasRef()).toBe(false);
    expect(deadlines.pending).toBe(0);
  });

  it('expires the rest when one callback throws, and rethrows its error uncaught', async () => {
    const deadlines = new Deadlines(10);
    // Captured instead of run: vitest would fail the file on the uncaught error.
    const rethrows: (() => void)[] = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) => rethrows.push(callback));
    const failure = new Error('callback bug');
    let after = false;
    deadlines.start(() => {
      throw failure;
    });
    deadlines.start(() => {
      after = true;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(after).toBe(true);
    expect(rethrows).toHaveLength(1);
    expect(rethrows[0]).toThrow(failure);
  });

  it('an infinite length never expires and sets no timer', async () => {
    const deadlines = new Deadlines(Infinity);
    let expired = false;
    const deadline = deadlines.start(() => {
      expired = true;
    });
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2 ** 31);
    expect(expired).toBe(false);
    deadline.cancel();
    expect(deadlines.pending).toBe(0);
  });

  it('rejects a length that is not a number of ms >= 0, naming what is allowed', () => {
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) {
      expect(() => new Deadlines(bad)).toThrow(/must be a number of ms >= 0 \(Infinity: never\)/);
    }
  });
});
