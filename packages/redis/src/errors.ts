import {
  BackendUnavailableError,
  InvalidArgumentError,
  LeaseError,
  type LeaseOperation,
  type NodeOutcome,
  QuorumNotReachedError,
} from '@leasekit/core';
import { ReplyError } from 'ioredis';

export const BACKEND = 'redis';

/** A node gave no answer within the per-node timeout (the command may still land). */
export class NodeTimeoutError extends Error {
  constructor(node: string, timeoutMs: number) {
    super(`no answer from ${node} within ${timeoutMs} ms`);
    this.name = 'NodeTimeoutError';
  }
}

/**
 * A node's client is not connected (down, reconnecting or closed): its commands fail at once,
 * without being built or queued. One instance per node and connection state is reused, so a
 * dead node costs no stack trace per operation.
 */
export class NodeUnavailableError extends Error {
  readonly status: string;
  constructor(node: string, status: string, what: string = 'is not connected') {
    super(`${node} ${what} (${status})`);
    this.name = 'NodeUnavailableError';
    this.status = status;
  }
}

/** An error reply from the server (ioredis' `ReplyError`), not a client-side failure. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof ReplyError;
}

// Server replies that mean "try again later" (a node loading, failing over, busy, a cluster resharding).
const TRANSIENT_REPLIES =
  /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|READONLY|OOM|NOREPLICAS)\b/;
// Replies no retry will fix: a key of the wrong type (a name clash with application data), auth, ACLs.
const PERMANENT_REPLIES = /^(WRONGTYPE|NOAUTH|WRONGPASS|NOPERM)\b/;

/**
 * Maps what ioredis threw into a `LeaseError`: connection failures, timeouts and transient
 * server replies are a retryable `BACKEND_UNAVAILABLE`; replies no retry can fix are not.
 * A `LeaseError` passes through.
 */
export function classifyError(cause: unknown, operation: LeaseOperation, key?: string): LeaseError {
  if (cause instanceof LeaseError) return cause;
  const options = { backend: BACKEND, operation, key, cause };
  const message = cause instanceof Error ? cause.message : String(cause);
  const isReply = isReplyError(cause);
  if (isReply && TRANSIENT_REPLIES.test(message)) {
    return new BackendUnavailableError(`the server is not ready: ${message}`, options);
  }
  if (isReply && PERMANENT_REPLIES.test(message)) {
    return new BackendUnavailableError(`the server refused the command: ${message}`, {
      ...options,
      retryable: false,
    });
  }
  if (cause instanceof NodeTimeoutError) return new BackendUnavailableError(message, options);
  return new BackendUnavailableError(`the server could not be reached: ${message}`, options);
}

export type NodeOutcomeKind = NodeOutcome['outcome'];

const describe: Record<NodeOutcomeKind, string> = {
  ok: 'ok',
  held: 'held elsewhere',
  'not-holder': 'not the holder',
  error: 'error',
  timeout: 'timeout',
};

/** "2 of 3 nodes: held elsewhere; 1: timeout (127.0.0.1:7002 no answer within 50 ms)". */
export function summarize(nodes: readonly NodeOutcome[]): string {
  const counts = new Map<NodeOutcomeKind, number>();
  for (const node of nodes) counts.set(node.outcome, (counts.get(node.outcome) ?? 0) + 1);
  const parts = [...counts].map(([outcome, count]) => `${count} ${describe[outcome]}`);
  const details = nodes
    .filter((node) => node.outcome === 'error' || node.outcome === 'timeout')
    .map((node) => `${node.node}: ${node.error instanceof Error ? node.error.message : String(node.error)}`);
  return `${parts.join(', ')} of ${nodes.length} node${nodes.length === 1 ? '' : 's'}${details.length ? ` (${details.join('; ')})` : ''}`;
}

export function quorumError(
  what: string,
  nodes: readonly NodeOutcome[],
  quorum: number,
  operation: LeaseOperation,
  key: string | undefined,
): LeaseError {
  const errors = nodes.filter((node) => node.outcome === 'error' || node.outcome === 'timeout');
  // One node: its own error says more than "quorum".
  if (nodes.length === 1 && errors.length === 1) return classifyError(errors[0]!.error, operation, key);
  // Permanent failures (auth, WRONGTYPE) are not worth retrying only when they alone rule out a
  // quorum; otherwise the nodes that merely timed out or failed transiently may yet make one.
  const permanentCount = errors.filter((node) => !classifyError(node.error, operation, key).retryable).length;
  const permanent = nodes.length - permanentCount < quorum;
  return new QuorumNotReachedError(`${what}: quorum of ${quorum} not reached: ${summarize(nodes)}`, {
    backend: BACKEND,
    operation,
    key,
    nodes,
    quorum,
    ...(permanent ? { retryable: false } : {}),
  });
}

export function invalid(detail: string): InvalidArgumentError {
  return new InvalidArgumentError(detail, { backend: BACKEND, operation: 'configure' });
}
