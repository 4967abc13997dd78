import { describe, expect, it } from 'vitest';
import { WaitQueues } from '../src/wait-queue.js';
import { ScriptedBackend } from './scripted-backend.js';

describe('WaitQueues', () => {
  it('keeps the entries of keys held or waited for and sweeps idle ones, so memory stays bounded', () => {
    const queues = new WaitQueues<string>(new ScriptedBackend());
    queues.hold('held', 'lease-1');
    const waiting = queues.join('waited');
    for (let i = 0; i < 5_000; i++) queues.join(`key-${i}`).leave(true);
    // Idle entries are swept after 1,024 new keys: never more than that plus the live ones.
    expect(queues.size).toBeLessThanOrEqual(1_024 + 2);
    expect(queues.holder('held')).toBe('lease-1');
    expect(waiting.isHead).toBe(true);
    queues.unhold('held', 'someone else'); // not the holder: no effect
    expect(queues.holder('held')).toBe('lease-1');
    queues.unhold('held', 'lease-1');
    waiting.leave(false);
    for (let i = 0; i < 2_048; i++) queues.join(`more-${i}`).leave(true);
    expect(queues.holder('held')).toBeUndefined();
    expect(queues.size).toBeLessThanOrEqual(1_024);
  });

  it('gives a key that falls idle and comes back a fresh queue (no stale missed wake-up)', async () => {
    const queues = new WaitQueues<string>(new ScriptedBackend());
    queues.join('k').leave(true);
    queues.wake('k'); // nobody waits: must not be remembered for the next waiter
    const ticket = queues.join('k');
    const woken = await ticket.wait(20, undefined);
    expect(woken).toBe(false); // slept its 20 ms: no missed release was pending
    ticket.leave(false);
  });

  it('does not wake anyone while this locker holds the key, and does once it is released', async () => {
    const queues = new WaitQueues<string>(new ScriptedBackend());
    queues.hold('k', 'lease');
    const ticket = queues.join('k');
    const waiting = ticket.wait(10_000, undefined);
    queues.wake('k'); // the store's echo of a release handed over locally: ignored
    queues.unhold('k', 'lease');
    queues.wake('k');
    await expect(waiting).resolves.toBe(true);
    ticket.leave(false);
  });

  it('subscribes to release hints only while the key is held elsewhere, not by this locker', async () => {
    const backend = new ScriptedBackend();
    const subscribed: string[] = [];
    const hinted = Object.assign(backend, {
      released: (key: string, signal: AbortSignal) => {
        subscribed.push(key);
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      },
    });
    const queues = new WaitQueues<string>(hinted);
    queues.hold('k', 'lease');
    const ticket = queues.join('k');
    const first = ticket.wait(10_000, undefined);
    expect(subscribed).toEqual([]); // our own release will wake it: no echo from the store
    queues.unhold('k', 'lease');
    queues.wake('k');
    await expect(first).resolves.toBe(true);
    const second = ticket.wait(10, undefined); // held elsewhere now: listen to the store
    expect(subscribed).toEqual(['k']);
    await expect(second).resolves.toBe(false);
    ticket.leave(false);
  });

  it('ends a hint subscription left from the wait once this locker holds the key', async () => {
    const backend = new ScriptedBackend();
    const aborted: string[] = [];
    const hinted = Object.assign(backend, {
      released: (key: string, signal: AbortSignal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted.push(key);
            resolve();
          }),
        ),
    });
    const queues = new WaitQueues<string>(hinted);
    const ticket = queues.join('k');
    const other = queues.join('k');
    const woken = ticket.wait(5, undefined); // held elsewhere: subscribes
    await expect(woken).resolves.toBe(false); // its backoff timer fired: it tries and wins
    ticket.leave(true);
    queues.hold('k', 'lease');
    expect(aborted).toEqual(['k']);
    other.leave(false);
  });
  it('leaves the next in line asleep when a waiter of this locker takes the key, and hands it to onHeld', async () => {
    const calls: [string, unknown][] = [];
    const queues = new WaitQueues<string, string>(new ScriptedBackend(), (holder, next) => {
      calls.push([holder, next.request]);
    });
    const taker = queues.join('k', 'first');
    const next = queues.join('k', 'second');
    let woken: boolean | undefined;
    const waiting = next.wait(10_000, undefined).then((value) => {
      woken = value;
    });
    queues.hold('k', 'lease'); // as the locker does when the attempt wins, before the taker leaves
    taker.leave(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([['lease', 'second']]);
    expect(next.isHead).toBe(true);
    expect(next.sleeping).toBe(true); // not woken to look: the release wakes it or hands it the key
    expect(woken).toBeUndefined();
    queues.unhold('k', 'lease');
    queues.wake('k');
    await waiting;
    expect(woken).toBe(true);
    next.leave(false);
  });

  it('wakes the next in line instead when nobody of this locker holds the key or no onHeld is given', async () => {
    const calls: string[] = [];
    const withHook = new WaitQueues<string, string>(new ScriptedBackend(), (holder) => {
      calls.push(holder);
    });
    const withoutHook = new WaitQueues<string, string>(new ScriptedBackend());
    for (const [queues, held] of [
      [withHook, false],
      [withoutHook, true],
    ] as const) {
      const taker = queues.join('k');
      const next = queues.join('k');
      const waiting = next.wait(10_000, undefined);
      if (held) queues.hold('k', 'lease');
      taker.leave(true);
      await expect(waiting).resolves.toBe(true);
      next.leave(false);
    }
    expect(calls).toEqual([]);
  });
});
