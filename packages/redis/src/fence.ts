import type { LeaseOperation } from '@leasekit/core';
import { quorumError } from './errors.js';
import type { RedisKeyNames } from './keys.js';
import type { NodeSet } from './node-set.js';
import { gather, outcomes, quorumDecided } from './quorum.js';
import { RAISE_FENCE_SCRIPT } from './scripts.js';

/**
 * Fencing by quorum intersection. Every node counts its own holders (an INCR once the lock is
 * ours there: at acquisition, see `acquireOnNode`, and at a hand-over, see `handOver`); the
 * fence is the maximum over the quorum that counted for us. Before it is handed out, a quorum
 * of nodes must hold a counter >= that fence, set while we held the lock there: nodes that lag
 * behind are raised to it. Any later holder's quorum shares at least one node with ours, counts
 * there after us, and so past our fence; and the quorum that counted for us shares a node with
 * the quorum that recorded the previous fence, so ours is above that one.
 *
 * `granted`: the indexes of the nodes that counted; `fenceOf(index)`: what that node counted.
 * Throws `QuorumNotReachedError` when too few nodes could record the fence (nothing is undone:
 * the caller decides what to give back).
 */
export function settleFence(
  set: NodeSet,
  key: string,
  names: RedisKeyNames,
  token: string,
  ttlMs: number,
  granted: readonly number[],
  fenceOf: (index: number) => number,
  operation: LeaseOperation = 'acquire',
): number | Promise<number> {
  const fence = Math.max(...granted.map(fenceOf));
  const lagging = granted.filter((index) => fenceOf(index) < fence);
  const atFence = granted.length - lagging.length;
  // The usual case, answered at once: a quorum counted the same.
  if (atFence >= set.quorum) return fence;
  return raiseFence(set, key, names, token, ttlMs, fence, lagging, atFence, operation);
}

/** Raises the lagging nodes' counters to `fence` (see `settleFence`). */
async function raiseFence(
  set: NodeSet,
  key: string,
  names: RedisKeyNames,
  token: string,
  ttlMs: number,
  fence: number,
  lagging: readonly number[],
  atFence: number,
  operation: LeaseOperation,
): Promise<number> {
  const laggingNodes = lagging.map((index) => set.nodes[index]!);
  const raised = await gather(
    laggingNodes,
    (_, node) => node.evalScript<number>(RAISE_FENCE_SCRIPT, names.lock, names.fence, token, fence),
    set.nodeTimeoutMs(ttlMs),
    quorumDecided(set.quorum - atFence, (value: number) => value === 1),
  );
  const raisedCount = raised.filter((reply) => reply?.status === 'value' && reply.value === 1).length;
  if (atFence + raisedCount >= set.quorum) return fence;
  const nodes = outcomes(laggingNodes, raised, (value) => (value === 1 ? 'ok' : 'not-holder'));
  throw quorumError(
    `${operation}: could not record the fencing token`,
    nodes,
    set.quorum - atFence,
    operation,
    key,
  );
}
