import type { HandOverOutcome, LeaseRef, NodeOutcome } from '@leasekit/core';
import { quorumError, summarize } from './errors.js';
import { settleFence } from './fence.js';
import { redisKeyNames } from './keys.js';
import type { NodeSet } from './node-set.js';
import { gather, outcomes, quorumDecided } from './quorum.js';
import { HAND_OVER_SCRIPT } from './scripts.js';

/** One node's answer: its count (0: not ours) and the others registered there as waiting for the key. */
type HandOverReply = [count: number, waiting: number];

const counted = (value: HandOverReply) => value[0] > 0;
const judge = (value: HandOverReply): NodeOutcome['outcome'] => (counted(value) ? 'ok' : 'not-holder');

/**
 * Compare-and-pexpire on every node, counting the holding's next `fences` holders (INCRBY) on
 * each node that extended it; renewed when a quorum did, with the block's highest fence settled
 * as an acquisition's fence is (see `settleFence`): the node shared with the quorum that recorded
 * the previous fence counted at least `fences` past it, so the whole block lies above. The locker
 * asks for this once while a holder works and callers of its own wait, and passes the holding on
 * at each release with no round trip.
 */
export async function handOver(
  set: NodeSet,
  lease: LeaseRef,
  ttlMs: number,
  fences: number,
): Promise<HandOverOutcome> {
  const names = redisKeyNames(lease.key, set.prefix);
  const replies = await gather(
    set.nodes,
    (_, node) =>
      node.evalScript<HandOverReply>(
        HAND_OVER_SCRIPT,
        names.lock,
        names.fence,
        names.owner,
        names.waiters,
        lease.token,
        ttlMs,
        set.fencing ? fences : 0,
        set.notifier?.ownPlace(names.lock) ?? '',
      ),
    set.nodeTimeoutMs(ttlMs),
    quorumDecided(set.quorum, counted),
    true,
  );
  const granted: number[] = [];
  let notOurs = 0;
  let waiting = 0;
  replies.forEach((reply, index) => {
    if (reply?.status !== 'value') return;
    waiting += reply.value[1];
    if (counted(reply.value)) granted.push(index);
    else notOurs++;
  });
  if (granted.length >= set.quorum) {
    // A waiter elsewhere registers on every node it can. Unknown when this backend does not
    // listen for releases (nor, likely, do the others: they poll, and register nowhere).
    const contended = set.notifier ? waiting > 0 : undefined;
    if (!set.fencing) return { status: 'renewed', contended };
    const fenceOf = (index: number) => (replies[index] as { value: HandOverReply }).value[0];
    return {
      status: 'renewed',
      fence: await settleFence(set, lease.key, names, lease.token, ttlMs, granted, fenceOf, 'renew'),
      contended,
    };
  }
  const nodes = outcomes(set.nodes, replies, judge);
  if (notOurs > set.nodes.length - set.quorum) {
    return { status: 'lost', detail: `the lease is no longer ours on a quorum: ${summarize(nodes)}` };
  }
  throw quorumError('hand over', nodes, set.quorum, 'renew', lease.key);
}
