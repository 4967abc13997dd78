import { randomUUID } from 'node:crypto';
import { createLocker } from '@leasekit/core';
import { redisUrls } from '@leasekit/testing/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisBackend, redisKeyNames } from '../src/index.js';
import { RELEASE_SCRIPT } from '../src/scripts.js';
import { adminClients, closeAll, eventually, uniqueKey } from './helpers.js';

const urls = redisUrls().slice(0, 3);
const admin = adminClients(urls);
const opened: RedisBackend[] = [];
afterAll(async () => {
  await Promise.all(opened.map((created) => created.close()));
  await closeAll(admin);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Backends of one application (one prefix), each as a process of its own would have it, with
 * their subscriber connections up (`listening` of them, on every node).
 */
async function backends(count: number, listening = count) {
  const prefix = `${uniqueKey('wake')}:`;
  const created = Array.from({ length: count }, () => {
    const backend = createRedisBackend({ nodes: urls, prefix, onWarning: () => {} });
    opened.push(backend);
    return backend;
  });
  // A wait opens a backend's subscriber connections; it listens once every node confirmed.
  const stop = new AbortController();
  for (const backend of created.slice(0, listening)) void backend.released!(uniqueKey('warm'), stop.signal);
  const channels = await listeners(prefix, listening);
  expect(channels.map((names) => names.length)).toEqual(admin.map(() => listening));
  stop.abort();
  return { prefix, backends: created };
}

/** The waiters set of `key` on each node, first first. */
function waiters(key: string, prefix: string): Promise<string[][]> {
  const { waiters: set } = redisKeyNames(key, prefix);
  return Promise.all(admin.map((client) => client.zrange(set, 0, -1)));
}

/** An attempt that finds `key` held, by a caller prepared to wait: it registers as a waiter. */
async function attemptHeld(backend: RedisBackend, key: string): Promise<void> {
  const outcome = await backend.tryAcquire({ key, token: randomUUID(), ttlMs: 10_000, waitMs: 10_000 });
  expect(outcome.status).toBe('held');
}

/** Registers each backend in turn; returns the wake channel each registered. */
async function register(all: readonly RedisBackend[], key: string, prefix: string): Promise<string[]> {
  const channels: string[] = [];
  for (const backend of all) {
    // Again until every node has it: the server confirms a subscription a little before the
    // backend hears of it, and registers only where it knows it listens.
    const sets = await eventually(
      async () => {
        await attemptHeld(backend, key);
        return waiters(key, prefix);
      },
      (perNode) => perNode.every((set) => set.length === channels.length + 1),
      5_000,
    );
    const added = sets[0]![channels.length]!;
    expect(sets).toEqual(admin.map(() => [...channels, added]));
    channels.push(added);
  }
  return channels;
}

/** A `released()` wait that records when (if) it woke. */
function hint(backend: RedisBackend, key: string, stop: AbortSignal) {
  const state = { woke: false };
  const done = backend.released!(key, stop).then(() => {
    if (!stop.aborted) state.woke = true;
  });
  return { state, done };
}

/**
 * `backend` takes `key` (as `token`), which must be free, on every node: an acquire returns on a
 * quorum, and an attempt that reached the last node first would take that node (and register
 * nowhere there).
 */
async function hold(backend: RedisBackend, key: string, token = 'h', ttlMs = 10_000): Promise<void> {
  expect((await backend.tryAcquire({ key, token, ttlMs })).status).toBe('acquired');
  const { lock } = redisKeyNames(key, backend.prefix);
  const tokens = await eventually(
    () => Promise.all(admin.map((client) => client.get(lock))),
    (all) => all.every((value) => value === token),
  );
  expect(tokens).toEqual(admin.map(() => token));
}

/** Whether the hint fired within `ms`. */
async function fired(h: ReturnType<typeof hint>, ms = 2_000): Promise<boolean> {
  await Promise.race([h.done, sleep(ms)]);
  return h.state.woke;
}

/** The waiters sets once every node's holds `count` members (the last node's copy may come later). */
function waitersOnceAll(key: string, prefix: string, count: number): Promise<string[][]> {
  return eventually(
    () => waiters(key, prefix),
    (sets) => sets.every((set) => set.length === count),
  );
}

/** Waits until `count` backends of `prefix` listen on every node (as the server sees it). */
function listeners(prefix: string, count: number): Promise<string[][]> {
  return eventually(
    () =>
      Promise.all(admin.map((client) => client.pubsub('CHANNELS', `${prefix}wake:*`) as Promise<string[]>)),
    (perNode) => perNode.every((names) => names.length === count),
    5_000,
  );
}

describe('release wake-ups: one waiter per release, the one that waited longest', () => {
  it('a release wakes the first registered waiter and no other; each waiter is registered once, at the end', async () => {
    const {
      prefix,
      backends: [holder, ...waiting],
    } = await backends(4);
    const key = uniqueKey('first');
    const token = 'holder';
    expect((await holder!.tryAcquire({ key, token, ttlMs: 10_000 })).status).toBe('acquired');
    const channels = await register(waiting, key, prefix);
    // Another attempt of a registered waiter keeps its place.
    await attemptHeld(waiting[0]!, key);
    expect(await waiters(key, prefix)).toEqual(admin.map(() => channels));
    const stop = new AbortController();
    const hints = waiting.map((backend) => hint(backend, key, stop.signal));
    await sleep(20);
    expect(await holder!.release({ key, token })).toBe(true);
    await Promise.race([hints[0]!.done, sleep(2_000)]);
    await sleep(300); // time for a wrong wake-up to arrive
    expect(hints.map((h) => h.state.woke)).toEqual([true, false, false]);
    // Taken off on every node; the others keep their order.
    expect(await waiters(key, prefix)).toEqual(admin.map(() => channels.slice(1)));
    stop.abort();
  });

  it('the waiters set lives a minute past the last attempt that joined it, and taking the key leaves it', async () => {
    const {
      prefix,
      backends: [holder, waiter],
    } = await backends(2);
    const key = uniqueKey('expiry');
    // The holding expires (nobody releases it, so nobody takes the waiter off the set).
    await hold(holder!, key, 'h', 300);
    await register([waiter!], key, prefix);
    const { waiters: set } = redisKeyNames(key, prefix);
    for (const ttl of await Promise.all(admin.map((client) => client.pttl(set)))) {
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    await sleep(350);
    expect((await waiter!.tryAcquire({ key, token: 'w', ttlMs: 10_000, waitMs: 1_000 })).status).toBe(
      'acquired',
    );
    // (Taken on a quorum: the last node may apply it a moment later.)
    const exists = () => Promise.all(admin.map((client) => client.exists(set)));
    expect(await eventually(exists, (counts) => counts.every((n) => n === 0))).toEqual(admin.map(() => 0));
  });

  it("an acquire keeps the backend's place while other callers of the same backend still wait", async () => {
    const {
      prefix,
      backends: [holder, shared],
    } = await backends(2);
    const key = uniqueKey('shared');
    await hold(holder!, key, 'h', 300);
    const [channel] = await register([shared!], key, prefix);
    // Another caller of the same backend (a second locker) waits for the key.
    const stop = new AbortController();
    void shared!.released!(key, stop.signal);
    await sleep(350);
    expect((await shared!.tryAcquire({ key, token: 's', ttlMs: 10_000, waitMs: 1_000 })).status).toBe(
      'acquired',
    );
    expect(await waiters(key, prefix)).toEqual(admin.map(() => [channel]));
    stop.abort();
  });

  it('a woken waiter that finds the key taken again keeps its place: it goes back to the front', async () => {
    const {
      prefix,
      backends: [holder, first, second],
    } = await backends(3);
    const key = uniqueKey('front');
    await hold(holder!, key);
    const channels = await register([first!, second!], key, prefix);
    const stop = new AbortController();
    const woken = hint(first!, key, stop.signal);
    // Released, and taken again by a caller that did not wait, before the woken waiter attempts.
    const [released, again] = await Promise.all([
      holder!.release({ key, token: 'h' }),
      holder!.tryAcquire({ key, token: 'h2', ttlMs: 10_000 }),
    ]);
    expect([released, again.status]).toEqual([true, 'acquired']);
    expect(await fired(woken)).toBe(true);
    expect(await waiters(key, prefix)).toEqual(admin.map(() => channels.slice(1)));
    await attemptHeld(first!, key);
    expect(await waiters(key, prefix)).toEqual(admin.map(() => channels));
    // A later attempt without a wake-up keeps that place.
    await attemptHeld(first!, key);
    expect(await waiters(key, prefix)).toEqual(admin.map(() => channels));
    stop.abort();
  });

  it("a wake-up passed on when the key is held again wakes nobody: the new holder's release wakes the next", async () => {
    const {
      prefix,
      backends: [holder, gone, next],
    } = await backends(3);
    const key = uniqueKey('pass-on-held');
    await hold(holder!, key);
    const channels = await register([gone!, next!], key, prefix);
    await sleep(150);
    const stop = new AbortController();
    const woken = hint(next!, key, stop.signal);
    // Released and taken again at once, in one write per node: `gone`'s pass-on finds it held.
    const [released, again] = await Promise.all([
      holder!.release({ key, token: 'h' }),
      holder!.tryAcquire({ key, token: 'h2', ttlMs: 10_000 }),
    ]);
    expect([released, again.status]).toEqual([true, 'acquired']);
    await sleep(300);
    expect(woken.state.woke).toBe(false);
    expect(await waiters(key, prefix)).toEqual(admin.map(() => channels.slice(1)));
    await holder!.release({ key, token: 'h2' });
    expect(await fired(woken)).toBe(true);
    stop.abort();
  });

  it('a waiter that gives up leaves the waiters set at once', async () => {
    const {
      prefix,
      backends: [holder, gone, next],
    } = await backends(3);
    const key = uniqueKey('leave');
    await hold(holder!, key);
    const channels = await register([gone!, next!], key, prefix);
    const giveUp = new AbortController();
    void gone!.released!(key, giveUp.signal);
    await sleep(20);
    giveUp.abort();
    expect(await waitersOnceAll(key, prefix, 1)).toEqual(admin.map(() => channels.slice(1)));
    // The release right after wakes the next waiter.
    const stop = new AbortController();
    const woken = hint(next!, key, stop.signal);
    await holder!.release({ key, token: 'h' });
    expect(await fired(woken)).toBe(true);
    stop.abort();
  });

  it('a waiter that no longer waits passes the wake-up on to the next', async () => {
    const {
      prefix,
      backends: [holder, gone, next],
    } = await backends(3);
    const key = uniqueKey('pass-on');
    await hold(holder!, key);
    await register([gone!, next!], key, prefix);
    // `gone` registered but stopped waiting (its acquire timed out or was aborted): no wait of its own.
    await sleep(150);
    const stop = new AbortController();
    const woken = hint(next!, key, stop.signal);
    await holder!.release({ key, token: 'h' });
    expect(await fired(woken, 3_000)).toBe(true);
    // (The last node's copy may come after the quorum's.)
    expect(await waitersOnceAll(key, prefix, 0)).toEqual(admin.map(() => []));
    stop.abort();
  });

  it('an attempt that takes a node but finds the key held on a quorum gives that node back without waking anyone', async () => {
    const {
      prefix,
      backends: [holder, waiter, other],
    } = await backends(3);
    const key = uniqueKey('minority');
    await hold(holder!, key);
    const channels = await register([waiter!], key, prefix);
    const stop = new AbortController();
    const woken = hint(waiter!, key, stop.signal);
    // The holding is gone from the last node only (evicted, say): another attempt takes that node.
    await admin[2]!.del(redisKeyNames(key, prefix).lock);
    expect((await other!.tryAcquire({ key, token: 'o', ttlMs: 10_000 })).status).toBe('held');
    await sleep(200);
    // Its give-back there woke nobody: the waiter would only have failed (the holder has a quorum).
    expect(woken.state.woke).toBe(false);
    expect((await waiters(key, prefix))[2]).toEqual(channels);
    await holder!.release({ key, token: 'h' });
    expect(await fired(woken)).toBe(true);
    stop.abort();
  });

  it("the nodes' copies of a wake-up that come after the attempt it started found them held wake again", async () => {
    const {
      prefix,
      backends: [holder, waiter],
    } = await backends(2);
    const key = uniqueKey('late-copies');
    await hold(holder!, key);
    await register([waiter!], key, prefix);
    const { lock, owner, waiters: set } = redisKeyNames(key, prefix);
    // The holder's release, applied by one node now and by the others later (a slow node).
    const releaseOn = (index: number) =>
      admin[index]!.eval(RELEASE_SCRIPT.lua, 3, lock, owner, set, 'h', lock, 'release-1', 0);
    const stop = new AbortController();
    const first = hint(waiter!, key, stop.signal);
    expect(await releaseOn(0)).toBe(1);
    expect(await fired(first)).toBe(true);
    // Its attempt finds the other two nodes still held, and it waits again...
    await attemptHeld(waiter!, key);
    const second = hint(waiter!, key, stop.signal);
    // ... until they apply the same release: their copies are a new wake-up, not old news.
    expect(await Promise.all([releaseOn(1), releaseOn(2)])).toEqual([1, 1]);
    expect(await fired(second)).toBe(true);
    expect((await waiter!.tryAcquire({ key, token: 'w', ttlMs: 10_000, waitMs: 1_000 })).status).toBe(
      'acquired',
    );
    stop.abort();
  });

  it('a waiter whose process is gone is skipped', async () => {
    const {
      prefix,
      backends: [holder, dead, next],
    } = await backends(3);
    const key = uniqueKey('dead');
    await hold(holder!, key);
    await register([dead!, next!], key, prefix);
    await dead!.close();
    const stop = new AbortController();
    const woken = hint(next!, key, stop.signal);
    await listeners(prefix, 2);
    await holder!.release({ key, token: 'h' });
    expect(await fired(woken)).toBe(true);
    // (The last node's copy may come after the quorum's.)
    expect(await waitersOnceAll(key, prefix, 0)).toEqual(admin.map(() => []));
    stop.abort();
  });

  it('a wake-up that comes between a held attempt and its wait is kept for that wait', async () => {
    const {
      prefix,
      backends: [holder, first, second],
    } = await backends(3);
    const key = uniqueKey('kept');
    await hold(holder!, key);
    await register([first!, second!], key, prefix);
    const stop = new AbortController();
    const later = hint(second!, key, stop.signal);
    // The first attempts again (held) and, before it sleeps, the key is released.
    await attemptHeld(first!, key);
    await holder!.release({ key, token: 'h' });
    await sleep(15);
    const kept = hint(first!, key, stop.signal);
    expect(await fired(kept, 20)).toBe(true);
    await sleep(300);
    expect(later.state.woke).toBe(false);
    stop.abort();
  });

  it('a backend that waits before its subscriber connections are up registers once they are', async () => {
    const {
      prefix,
      backends: [holder, waiter],
    } = await backends(2, 1);
    const key = uniqueKey('late');
    await hold(holder!, key);
    // Not listening yet: this attempt registers nowhere, and opens no connection...
    await attemptHeld(waiter!, key);
    expect(await waiters(key, prefix)).toEqual(admin.map(() => []));
    expect(await Promise.all(admin.map((client) => client.pubsub('CHANNELS', `${prefix}wake:*`)))).toEqual(
      admin.map(() => [expect.any(String)]),
    );
    const stop = new AbortController();
    // ... its wait does, and ends when a connection is up (a release meanwhile was not heard)...
    await Promise.race([waiter!.released!(key, stop.signal), sleep(5_000)]);
    await listeners(prefix, 2);
    // ... and, once all are, the next attempt registers on every node.
    await register([waiter!], key, prefix);
    stop.abort();
  });

  it.each([
    ['opened before it', true],
    ['opened while it is out', false],
  ])(
    'a subscription that comes up while an attempt is out (connections %s) ends the next wait at once, so that the caller registers there',
    async (_, openedFirst) => {
      const {
        prefix,
        backends: [holder, waiter],
      } = await backends(2, 0);
      const key = uniqueKey('ready-meanwhile');
      await hold(holder!, key);
      // A wait (for another key) opens the subscriber connections; an attempt sent before they are
      // up registers nowhere, and their coming up wakes nobody waiting for this key.
      const warm = new AbortController();
      if (openedFirst) void waiter!.released!(uniqueKey('warm'), warm.signal);
      const attempt = attemptHeld(waiter!, key);
      if (!openedFirst) void waiter!.released!(uniqueKey('warm'), warm.signal);
      await attempt;
      await listeners(prefix, 1);
      await sleep(200); // the backend hears the servers confirm
      warm.abort();
      expect(await waiters(key, prefix)).toEqual(admin.map(() => []));
      // Nothing is released: the wait ends because a release could not wake this caller. (It slept
      // through the release to its backoff before: a CI failure, 2 runs in 150 under load.)
      const stop = new AbortController();
      expect(await fired(hint(waiter!, key, stop.signal), 1_000)).toBe(true);
      // Its next attempt registers on every node, and the release wakes it.
      await register([waiter!], key, prefix);
      const woken = hint(waiter!, key, stop.signal);
      await holder!.release({ key, token: 'h' });
      expect(await fired(woken)).toBe(true);
      stop.abort();
    },
  );

  it('lockers in separate backends get a hot key in the order they came, with no retry before their turn', async () => {
    const { backends: created } = await backends(4);
    const key = uniqueKey('order');
    // Retries so rare that only wake-ups hand the key on.
    const lockers = created.map((backend) =>
      createLocker(backend, { ttl: '10s', retry: { initial: '20s', max: '20s', maxJitter: 0 } }),
    );
    const order: number[] = [];
    const first = await lockers[0]!.acquire(key);
    const turns = lockers.slice(1).map(async (locker, index) => {
      await sleep(100 * index);
      const lease = await locker.acquire(key, { wait: '10s' });
      order.push(index + 1);
      await sleep(5);
      await lease.release();
    });
    await sleep(400);
    const releasedAt = performance.now();
    await first.release();
    await Promise.all(turns);
    expect(order).toEqual([1, 2, 3]);
    expect(performance.now() - releasedAt).toBeLessThan(2_000);
    await Promise.all(lockers.map((locker) => locker.close()));
  });
});
