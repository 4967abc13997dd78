import type { LeaseInfo, LeaseRef, NodeOutcome } from '@leasekit/core';
import { quorumError } from './errors.js';
import { redisKeyNames } from './keys.js';
import type { NodeSet } from './node-set.js';
import { gather, outcomes, quorumDecided, tallyOwnership } from './quorum.js';
import { INSPECT_SCRIPT, RELEASE_SCRIPT } from './scripts.js';

const deleted = (value: number) => value === 1;

/**
 * Compare-and-delete on every node (waking the key's first waiter there, where it deleted). `true`
 * when a quorum still held it for us; `false` when too many nodes say it was not ours.
 */
export async function release(set: NodeSet, lease: LeaseRef): Promise<boolean> {
  const names = redisKeyNames(lease.key, set.prefix);
  const wake = set.notifier ? names.lock : '';
  const id = set.notifier?.wakeId() ?? '';
  const replies = await gather(
    set.nodes,
    (_, node) =>
      node.evalScript<number>(
        RELEASE_SCRIPT,
        names.lock,
        names.owner,
        names.waiters,
        lease.token,
        wake,
        id,
        node.isCluster ? 1 : 0,
      ),
    set.nodeTimeoutMs(Infinity),
    quorumDecided(set.quorum, deleted),
  );
  const { yes, notOurs } = tallyOwnership(replies);
  if (yes >= set.quorum) return true;
  if (notOurs > set.nodes.length - set.quorum) return false;
  const judge = (value: number): NodeOutcome['outcome'] => (value === 1 ? 'ok' : 'not-holder');
  throw quorumError('release', outcomes(set.nodes, replies, judge), set.quorum, 'release', lease.key);
}

/**
 * The holding a quorum agrees on: the token found on a quorum of nodes, its remaining TTL as
 * that quorum sees it, and the highest fence any node has counted.
 */
export async function inspect(set: NodeSet, key: string): Promise<LeaseInfo | null> {
  const names = redisKeyNames(key, set.prefix);
  const replies = await gather(
    set.nodes,
    (_, node) =>
      node.evalScript<[string | null, number, number, string | null]>(
        INSPECT_SCRIPT,
        names.lock,
        names.fence,
        names.owner,
      ),
    set.nodeTimeoutMs(Infinity),
    () => false,
  );
  const answers = replies.flatMap((reply) => (reply?.status === 'value' ? [reply.value] : []));
  if (answers.length < set.quorum) {
    const judge = (): NodeOutcome['outcome'] => 'ok';
    throw quorumError('inspect', outcomes(set.nodes, replies, judge), set.quorum, 'inspect', key);
  }
  const fence = Math.max(0, ...answers.map(([, , nodeFence]) => nodeFence));
  const byToken = new Map<string, number[]>();
  for (const [token, pttl] of answers) {
    if (token !== null) byToken.set(token, [...(byToken.get(token) ?? []), pttl]);
  }
  for (const [token, pttls] of byToken) {
    if (pttls.length < set.quorum) continue;
    // Held until fewer than a quorum of these nodes still has it: the quorum-th largest TTL.
    const ttl = pttls.sort((a, b) => b - a)[set.quorum - 1]!;
    // Any node holding this token tells its owner: they were written together.
    const owner = answers.find(
      ([nodeToken, , , nodeOwner]) => nodeToken === token && nodeOwner !== null,
    )?.[3];
    return {
      key,
      held: true,
      token,
      ...(set.fencing ? { fence } : {}),
      ...(ttl >= 0 ? { ttlRemainingMs: ttl } : {}),
      ...(owner != null ? { owner } : {}),
    };
  }
  if (set.fencing && fence > 0) return { key, held: false, fence };
  return null;
}
