import type { NodeOutcome } from '@leasekit/core';
import { Deadlines } from '@leasekit/core/backend-kit';
import type { Cluster, Redis } from 'ioredis';
import { NodeTimeoutError } from './errors.js';
import { CONNECT_BUDGET_MS, type LockNode } from './node.js';

/** One node's answer: its value, or why there is none. */
export type Reply<T> =
  | { readonly status: 'value'; readonly value: T }
  | { readonly status: 'error'; readonly error: unknown }
  | { readonly status: 'timeout'; readonly error: NodeTimeoutError };

/**
 * The per-node timeouts of every gather, one timer per length (see `Deadlines`). Lengths are
 * whole milliseconds, so there are few of them: the default node timeout is 50 to 500 ms.
 */
const deadlinesByLength = new Map<number, Deadlines>();

function deadlinesOf(timeoutMs: number): Deadlines {
  const length = Math.ceil(timeoutMs);
  let deadlines = deadlinesByLength.get(length);
  if (!deadlines) {
    deadlines = new Deadlines(length);
    deadlinesByLength.set(length, deadlines);
  }
  return deadlines;
}

/**
 * Decides, from the replies so far (`undefined`: not yet), whether the outcome is known. Called
 * once per node that answers, with that node's index.
 */
export type Decided<T> = (replies: readonly (Reply<T> | undefined)[], index: number) => boolean;

/**
 * Runs `command` on every node at once and resolves as soon as `decided` says the outcome is
 * known, or when every node has answered or timed out (one deadline of `timeoutMs` for all).
 * Nodes that have not answered by then stay `undefined`; their commands may still land.
 */
export function gather<T>(
  nodes: readonly LockNode[],
  command: (client: Redis | Cluster, node: LockNode, index: number) => Promise<T>,
  timeoutMs: number,
  decided: Decided<T>,
  /** The answers count toward a fence (acquire, hand-over): see `LockNode.runCounted`. */
  counted = false,
): Promise<(Reply<T> | undefined)[]> {
  // A node still connecting (a new backend's first operation) gets the time to connect as well.
  if (nodes.some((node) => node.connecting)) timeoutMs = Math.max(timeoutMs, CONNECT_BUDGET_MS);
  return new Promise((resolve) => {
    const replies: (Reply<T> | undefined)[] = [];
    for (let i = 0; i < nodes.length; i++) replies.push(undefined);
    let pending = nodes.length;
    let done = false;
    const settle = (index: number, reply: Reply<T>) => {
      if (done || replies[index] !== undefined) return;
      replies[index] = reply;
      pending--;
      if (decided(replies, index) || pending === 0) finish();
    };
    const finish = () => {
      done = true;
      deadline.cancel();
      resolve(replies);
    };
    // On expiry, let I/O that already arrived be read first (setImmediate runs after the poll
    // phase), so a busy event loop does not turn answered nodes into timeouts.
    const deadline = deadlinesOf(timeoutMs).start(() =>
      setImmediate(() => {
        if (done) return;
        nodes.forEach((node, index) => {
          replies[index] ??= { status: 'timeout', error: new NodeTimeoutError(node.name, timeoutMs) };
        });
        finish();
      }),
    );
    nodes.forEach((node, index) => {
      let promise: Promise<T>;
      try {
        promise = counted
          ? node.runCounted((client) => command(client, node, index))
          : node.run((client) => command(client, node, index));
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise.then(
        (value) => settle(index, { status: 'value', value }),
        (error: unknown) => settle(index, { status: 'error', error }),
      );
    });
  });
}

/**
 * `decided` for one quorum decision: a quorum said yes, or enough nodes said a definite no
 * (held elsewhere, not ours) that a quorum never can; or neither can happen whatever the nodes
 * still pending answer, because of errors. Errors alone do not stop the wait for the others:
 * "held elsewhere" is a better answer than "unavailable" when it is the truth.
 */
export function quorumDecided<T>(quorum: number, ok: (value: T) => boolean): Decided<T> {
  return (replies) => {
    let yes = 0;
    let no = 0;
    let pending = 0;
    for (const reply of replies) {
      if (reply === undefined) pending++;
      else if (reply.status === 'value') {
        if (ok(reply.value)) yes++;
        else no++;
      }
    }
    const tolerated = replies.length - quorum;
    if (yes >= quorum || no > tolerated) return true;
    return yes + pending < quorum && no + pending <= tolerated;
  };
}

/** What each node answered, for `QuorumNotReachedError`. */
export function outcomes<T>(
  nodes: readonly LockNode[],
  replies: readonly (Reply<T> | undefined)[],
  judge: (value: T) => NodeOutcome['outcome'],
): NodeOutcome[] {
  return nodes.map((node, index): NodeOutcome => {
    const reply = replies[index];
    if (reply === undefined) {
      return {
        node: node.name,
        outcome: 'timeout',
        error: new Error('not awaited: the outcome was already decided'),
      };
    }
    if (reply.status === 'value') return { node: node.name, outcome: judge(reply.value) };
    return { node: node.name, outcome: reply.status, error: reply.error };
  });
}

/** Counts the nodes that answered 1 (done for us) and 0 (not our token) to a compare-and-* script. */
export function tallyOwnership(replies: readonly (Reply<number> | undefined)[]): {
  yes: number;
  notOurs: number;
} {
  let yes = 0;
  let notOurs = 0;
  for (const reply of replies) {
    if (reply?.status !== 'value') continue;
    if (reply.value === 1) yes++;
    else notOurs++;
  }
  return { yes, notOurs };
}
