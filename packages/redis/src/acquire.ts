import type { AcquireOutcome, AcquireRequest, NodeOutcome } from '@leasekit/core';
import { quorumError } from './errors.js';
import { settleFence } from './fence.js';
import { type RedisKeyNames, redisKeyNames } from './keys.js';
import type { LockNode } from './node.js';
import type { NodeSet } from './node-set.js';
import { gather, outcomes, quorumDecided, type Reply } from './quorum.js';
import { ACQUIRE_SCRIPT, RELEASE_SCRIPT } from './scripts.js';

type AcquireReply = [acquired: number, fenceOrPttl: number];

const acquired = (value: AcquireReply) => value[0] === 1;
const judge = (value: AcquireReply): NodeOutcome['outcome'] => (acquired(value) ? 'ok' : 'held');

/**
 * One Redlock attempt: `SET NX PX` (and a fence count) on every node at once,
 * decided as soon as a quorum said yes or can no longer say yes. Whatever is not a success is
 * unlocked everywhere it may have landed (a timed-out command may still apply).
 */
export async function tryAcquire(set: NodeSet, request: AcquireRequest): Promise<AcquireOutcome> {
  const { key, token, ttlMs } = request;
  const names = redisKeyNames(key, set.prefix);
  // A caller that will wait if the key is held registers for the release's wake-up, on the nodes
  // where this backend listens for it (it starts listening when a caller first waits: see
  // `released`, which the locker calls after a held attempt).
  const waits = (request.waitMs ?? 0) > 0 ? set.notifier : undefined;
  const notifier = waits?.listening ? waits : undefined;
  // Decided before any command is built (a node still connecting builds its command later).
  const waiters = notifier ? set.nodes.map((_, index) => notifier.waiterOn(index)) : undefined;
  const registering = waiters?.some((waiter) => waiter !== '') ?? false;
  const woken = registering && notifier!.takeWoken(names.lock);
  // Other callers of this backend wait for the key: taking it keeps the backend's place.
  const stay = registering && notifier!.othersWaiting(names.lock);
  if (registering) notifier!.attempting();
  // Subscriptions that come up while this attempt is out could not take its registration: see `expect`.
  const ready = waits?.ready ?? 0;
  const replies = await gather(
    set.nodes,
    (_, node, index) =>
      acquireOnNode(
        node,
        names,
        token,
        ttlMs,
        set.fencing,
        request.owner ?? '',
        waiters?.[index] ?? '',
        woken,
        stay,
      ),
    set.nodeTimeoutMs(ttlMs),
    quorumDecided(set.quorum, acquired),
    true,
  );
  const granted = indexesWhere(replies, acquired);
  // (`gather` never rejects.)
  if (registering) notifier!.attempted(names.lock, granted.length >= set.quorum);
  if (granted.length >= set.quorum) {
    if (!set.fencing) return { status: 'acquired' };
    const fenceOf = (index: number) => (replies[index] as { value: AcquireReply }).value[1];
    try {
      return {
        status: 'acquired',
        fence: await settleFence(set, key, names, token, ttlMs, granted, fenceOf),
      };
    } catch (error) {
      unlock(
        set,
        names,
        token,
        replies.map(() => undefined),
        true,
      );
      throw error;
    }
  }
  const held = replies.flatMap((reply) =>
    reply?.status === 'value' && !acquired(reply.value) ? [reply.value[1]] : [],
  );
  const heldElsewhere = held.length > set.nodes.length - set.quorum;
  unlock(set, names, token, replies, !heldElsewhere);
  waits?.expect(names.lock, registering, ready);
  if (heldElsewhere) {
    return { status: 'held', retryAfterMs: freeIn(held, set.nodes.length - set.quorum) };
  }
  throw quorumError('acquire', outcomes(set.nodes, replies, judge), set.quorum, 'acquire', key);
}

/**
 * One node's part of an attempt, as `[1, fence]` (ours) or `[0, pttl]` (held elsewhere): the
 * acquire script, one command. It decides in one step what separate commands could not
 * atomically (the key already holds our token: an earlier attempt of this acquire landed, and
 * its TTL is reset), answers a held key with its PTTL in the same round trip, and runs on every
 * Redis version. One protocol for every load: see bench/README.md for why.
 */
function acquireOnNode(
  node: LockNode,
  names: RedisKeyNames,
  token: string,
  ttlMs: number,
  fencing: boolean,
  owner: string,
  waiter: string,
  woken: boolean,
  stay: boolean,
): Promise<AcquireReply> {
  return node.evalScript<AcquireReply>(
    ACQUIRE_SCRIPT,
    names.lock,
    names.fence,
    names.owner,
    names.waiters,
    token,
    ttlMs,
    fencing ? 1 : 0,
    owner,
    waiter,
    woken ? 1 : 0,
    stay ? 1 : 0,
  );
}

/**
 * Compare-and-delete on every node that did not answer "held elsewhere". Fire and forget. With
 * `wake`, where it deletes, it wakes the key's first waiter, as a release does: an attempt that
 * split the nodes with others (none reached a quorum) leaves the key free, and the waiters
 * asleep. Not when a quorum holds the key elsewhere: the waiter woken could only fail (and wake
 * the next, in turn, through the whole set); the holder's release wakes it.
 */
function unlock(
  set: NodeSet,
  names: RedisKeyNames,
  token: string,
  replies: readonly (Reply<AcquireReply> | undefined)[],
  wakeNext: boolean,
): void {
  const wake = set.notifier && wakeNext ? names.lock : '';
  const id = wake === '' ? '' : set.notifier!.wakeId();
  set.nodes.forEach((node, index) => {
    const reply = replies[index];
    if (reply?.status === 'value' && !acquired(reply.value)) return;
    const cluster = node.isCluster ? 1 : 0;
    node
      .run(() =>
        node.evalScript(RELEASE_SCRIPT, names.lock, names.owner, names.waiters, token, wake, id, cluster),
      )
      .catch(() => {});
  });
}

/** When enough holding nodes will have expired for a quorum to be possible again, in ms. */
function freeIn(pttls: number[], tolerated: number): number | undefined {
  pttls.sort((a, b) => a - b);
  const pttl = pttls[pttls.length - tolerated - 1];
  return pttl !== undefined && pttl >= 0 ? pttl : undefined;
}

function indexesWhere<T>(replies: readonly (Reply<T> | undefined)[], ok: (value: T) => boolean): number[] {
  const indexes: number[] = [];
  replies.forEach((reply, index) => {
    if (reply?.status === 'value' && ok(reply.value)) indexes.push(index);
  });
  return indexes;
}
