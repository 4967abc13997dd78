import type { LeaseRef, NodeOutcome, RenewItem, RenewManyOutcome, RenewOutcome } from '@leasekit/core';
import { quorumError, summarize } from './errors.js';
import { lockKey, ownerKey } from './keys.js';
import type { LockNode } from './node.js';
import type { NodeSet } from './node-set.js';
import { gather, outcomes, quorumDecided, type Reply, tallyOwnership } from './quorum.js';
import { isNoScript, RENEW_SCRIPT } from './scripts.js';

const extended = (value: number) => value === 1;
const judge = (value: number): NodeOutcome['outcome'] => (value === 1 ? 'ok' : 'not-holder');

/** Compare-and-pexpire on every node; renewed only when a quorum extended it. */
export async function renew(set: NodeSet, lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> {
  const lock = lockKey(lease.key, set.prefix);
  const owner = ownerKey(lock);
  const replies = await gather(
    set.nodes,
    (_, node) => node.evalScript<number>(RENEW_SCRIPT, lock, owner, lease.token, ttlMs),
    set.nodeTimeoutMs(ttlMs),
    quorumDecided(set.quorum, extended),
  );
  const outcome = itemOutcome(set, replies, lease.key);
  if (outcome.status === 'error') throw outcome.error;
  return outcome;
}

/**
 * Renews many leases with one pipelined round trip per node (a Cluster node, whose keys live on
 * different shards, gets one command per lease). Decided as soon as every lease is.
 */
export async function renewMany(set: NodeSet, items: readonly RenewItem[]): Promise<RenewManyOutcome[]> {
  if (items.length === 0) return [];
  const locks = items.map((item): LockKeys => {
    const lock = lockKey(item.lease.key, set.prefix);
    return [lock, ownerKey(lock)];
  });
  let minTtl = Infinity;
  for (const item of items) minTtl = Math.min(minTtl, item.ttlMs);
  // Running tallies per lease, so that each node's answer costs one pass over the batch.
  const yes = new Uint32Array(items.length);
  const no = new Uint32Array(items.length);
  const tolerated = set.nodes.length - set.quorum;
  let answered = 0;
  const replies = await gather(
    set.nodes,
    (_, node) => renewOnNode(node, items, locks),
    set.nodeTimeoutMs(minTtl),
    (partial, index) => {
      answered++;
      const reply = partial[index];
      if (reply?.status === 'value') {
        reply.value.forEach((value, i) => {
          if (value === 1) yes[i]!++;
          else if (typeof value === 'number') no[i]!++;
        });
      }
      const pending = set.nodes.length - answered;
      for (let i = 0; i < items.length; i++) {
        const y = yes[i]!;
        const n = no[i]!;
        if (!(y >= set.quorum || n > tolerated || (y + pending < set.quorum && n + pending <= tolerated)))
          return false;
      }
      return true;
    },
  );
  return items.map((item, i): RenewManyOutcome => {
    if (yes[i]! >= set.quorum) return { status: 'renewed' };
    return itemOutcome(
      set,
      replies.map((reply) => itemReply(reply, i)),
      item.lease.key,
    );
  });
}

type ItemResult = number | Error;

/** A lease's lock key and owner key (the renew script's KEYS). */
type LockKeys = readonly [lock: string, owner: string];

async function renewOnNode(
  node: LockNode,
  items: readonly RenewItem[],
  locks: readonly LockKeys[],
): Promise<ItemResult[]> {
  if (node.isCluster) {
    return Promise.all(
      items.map((item, i) =>
        node
          .evalScript<number>(RENEW_SCRIPT, ...locks[i]!, item.lease.token, item.ttlMs)
          .catch((error: unknown) => toError(error)),
      ),
    );
  }
  let results = await renewPipeline(node, items, locks);
  if (results.some(([error]) => isNoScript(error))) {
    // A restarted or flushed node: load the script and send the batch again (renewal is idempotent).
    await node.send('script', 'LOAD', RENEW_SCRIPT.lua);
    results = await renewPipeline(node, items, locks);
  }
  return items.map((_, i) => {
    const [error, value] = results[i] ?? [new Error('the pipeline returned too few results'), undefined];
    return error ?? (value as number);
  });
}

/** One round trip: EVALSHA of the renew script for every lease. */
async function renewPipeline(
  node: LockNode,
  items: readonly RenewItem[],
  locks: readonly LockKeys[],
): Promise<[Error | null, unknown][]> {
  const pipeline = node.client.pipeline();
  items.forEach((item, i) => {
    pipeline.evalsha(RENEW_SCRIPT.sha, RENEW_SCRIPT.keys, ...locks[i]!, item.lease.token, item.ttlMs);
  });
  return node.exec(pipeline); // after the commands sent before, still batched
}

function itemReply(reply: Reply<ItemResult[]> | undefined, index: number): Reply<number> | undefined {
  if (reply === undefined || reply.status !== 'value') return reply;
  const value = reply.value[index];
  return value instanceof Error || value === undefined
    ? { status: 'error', error: value ?? new Error('missing result') }
    : { status: 'value', value };
}

/** renewed: a quorum extended it; lost: too many nodes say it is not ours; else the error. */
function itemOutcome(
  set: NodeSet,
  replies: readonly (Reply<number> | undefined)[],
  key: string,
): RenewManyOutcome {
  const { yes, notOurs } = tallyOwnership(replies);
  if (yes >= set.quorum) return { status: 'renewed' };
  const nodes = outcomes(set.nodes, replies, judge);
  if (notOurs > set.nodes.length - set.quorum) {
    return { status: 'lost', detail: `the lease is no longer ours on a quorum: ${summarize(nodes)}` };
  }
  return { status: 'error', error: quorumError('renew', nodes, set.quorum, 'renew', key) };
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
