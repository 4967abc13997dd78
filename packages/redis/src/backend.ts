import {
  type AcquireOutcome,
  type AcquireRequest,
  type BackendCapabilities,
  ClosedError,
  type Duration,
  type HandOverOutcome,
  type LeaseBackend,
  type LeaseInfo,
  type LeaseRef,
  type RenewItem,
  type RenewManyOutcome,
  type RenewOutcome,
  toMs,
} from '@leasekit/core';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { tryAcquire } from './acquire.js';
import { BACKEND, classifyError, invalid } from './errors.js';
import { handOver } from './hand-over.js';
import { DEFAULT_PREFIX, lockKey } from './keys.js';
import { createLockClient, LockNode, type RedisNodeSpec } from './node.js';
import { checkNodes, type EvictingNodes, emitWarningOnce } from './node-check.js';
import type { NodeSet } from './node-set.js';
import { ReleaseNotifier } from './notifier.js';
import { inspect, release } from './release.js';
import { renew, renewMany } from './renew.js';

/** The default node timeout's upper end (a TTL of 5 s or more). */
const MAX_NODE_TIMEOUT_MS = 500;

export interface RedisBackendOptions {
  /**
   * ioredis clients, one per independent master (a `Cluster` client counts as one node). The
   * backend does not close them. Give them `lockClientOptions` (no offline queue, no resend).
   */
  readonly clients?: readonly (Redis | Cluster)[];
  /** Or addresses (`redis://host:port` or ioredis options): the backend creates and closes the clients. */
  readonly nodes?: readonly RedisNodeSpec[];
  /** Extra ioredis options for clients created from `nodes`. */
  readonly clientOptions?: RedisOptions;
  /** Namespace of every Redis key and channel leasekit uses. Default `'leasekit:'`. */
  readonly prefix?: string;
  /**
   * Longest wait for one node's answer. Default: a tenth of the TTL, between 50 ms and 500 ms.
   * A node slower than this counts as failed for that operation (its command may still apply).
   * A node that answers nothing for this long (the longest default: 500 ms) while commands wait
   * gets no new commands until it answers: they fail at once, as for a node that is down.
   */
  readonly nodeTimeout?: Duration;
  /** Hand out fencing tokens (one small counter key per lock key, never expired). Default `true`. */
  readonly fencing?: boolean;
  /**
   * Wake waiters through pub/sub when a key is released: a waiter registers in the key's waiters
   * set, and a release wakes the first one. Default `true`.
   */
  readonly releaseNotifications?: boolean;
  /**
   * A node that may evict keys (`maxmemory` set with a `maxmemory-policy` other than
   * `noeviction`, checked at each connection) can drop lock keys and fence counters: `'refuse'`
   * (default) counts it for no acquisition, `'warn'` uses it with a warning.
   */
  readonly evictingNodes?: EvictingNodes;
  /**
   * Where warnings about nodes go (an evicting node with `evictingNodes: 'warn'`, a node without
   * AOF persistence, a single node that restarted). Default: `process.emitWarning`, once per message.
   */
  readonly onWarning?: (message: string) => void;
}

export interface RedisBackend extends LeaseBackend {
  renewMany(items: readonly RenewItem[]): Promise<RenewManyOutcome[]>;
  handOver(lease: LeaseRef, ttlMs: number, fences: number): Promise<HandOverOutcome>;
  inspect(key: string): Promise<LeaseInfo | null>;
  /** The node names, in order, as errors report them (a Cluster: `cluster` until it connects). */
  readonly nodes: readonly string[];
  readonly quorum: number;
  readonly prefix: string;
}

/**
 * Redlock over N independent Redis masters: a key is held when a quorum (floor(N/2)+1) of nodes
 * holds it, for the TTL less the time the quorum took. One node is fine for development.
 */
export function createRedisBackend(options: RedisBackendOptions): RedisBackend {
  const config = resolve(options);
  // A node silent for a whole node timeout with commands pending is refused until it answers.
  const stallMs = config.nodeTimeoutMs ?? MAX_NODE_TIMEOUT_MS;
  const nodes = config.clients.map((client, index) => new LockNode(client, index < config.owned, stallMs));
  const quorum = Math.floor(nodes.length / 2) + 1;
  const notifier = config.notifications ? new ReleaseNotifier(nodes, quorum, config.prefix) : undefined;
  const set: NodeSet = {
    nodes,
    quorum,
    prefix: config.prefix,
    fencing: config.fencing,
    notifier,
    nodeTimeoutMs: (ttlMs) => config.nodeTimeoutMs ?? Math.max(50, Math.min(MAX_NODE_TIMEOUT_MS, ttlMs / 10)),
  };
  const capabilities: BackendCapabilities = {
    fencing: config.fencing,
    minTtlMs: 10,
    maxTtlMs: 2 ** 31 - 1,
    infiniteTtl: false,
    // Each node is one ordered connection: a local waiter's attempt can follow the release in its round trip.
    orderedRelease: true,
  };
  // Each new connection is checked (settings, a restart without data) before it counts.
  checkNodes(set, { evictingNodes: config.evictingNodes, warn: config.warn });
  let closed: Promise<void> | undefined;

  // Not `async`: one promise fewer per operation.
  const guard = <T>(operation: string, key: string | undefined, run: () => Promise<T>): Promise<T> => {
    if (closed) {
      return Promise.reject(new ClosedError('the backend is closed', { backend: BACKEND, operation, key }));
    }
    return run().catch((error: unknown) => {
      throw classifyError(error, operation, key);
    });
  };

  const backend: RedisBackend = {
    name: BACKEND,
    capabilities,
    // Read when asked: a Cluster's name lists its masters once it has connected.
    get nodes() {
      return nodes.map((node) => node.name);
    },
    quorum: set.quorum,
    prefix: config.prefix,

    tryAcquire: (request: AcquireRequest): Promise<AcquireOutcome> =>
      guard('acquire', request.key, () => tryAcquire(set, request)),

    renew: (lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> =>
      guard('renew', lease.key, () => renew(set, lease, ttlMs)),

    handOver: (lease: LeaseRef, ttlMs: number, fences: number): Promise<HandOverOutcome> =>
      guard('renew', lease.key, () => handOver(set, lease, ttlMs, fences)),

    renewMany: (items: readonly RenewItem[]): Promise<RenewManyOutcome[]> =>
      guard('renew', undefined, () => renewMany(set, items)),

    release: (lease: LeaseRef): Promise<boolean> => guard('release', lease.key, () => release(set, lease)),

    inspect: (key: string): Promise<LeaseInfo | null> => guard('inspect', key, () => inspect(set, key)),

    close(): Promise<void> {
      closed ??= (async () => {
        notifier?.close();
        await Promise.all(nodes.map((node) => node.close()));
      })();
      return closed;
    },
  };
  if (notifier) {
    backend.released = (key: string, signal: AbortSignal): Promise<void> =>
      closed ? Promise.resolve() : notifier.wait(lockKey(key, config.prefix), signal);
  }
  return backend;
}

interface Resolved {
  /** Clients created by the backend come first. */
  clients: (Redis | Cluster)[];
  owned: number;
  prefix: string;
  nodeTimeoutMs: number | undefined;
  fencing: boolean;
  notifications: boolean;
  evictingNodes: EvictingNodes;
  warn: (message: string) => void;
}

/** Checks every option before any connection is made. */
function resolve(options: RedisBackendOptions): Resolved {
  if (options === null || typeof options !== 'object') {
    throw invalid(
      'createRedisBackend needs options: { clients: [ioredis, ...] } or { nodes: ["redis://host:port", ...] }',
    );
  }
  const { clients, nodes } = options;
  if ((clients === undefined) === (nodes === undefined)) {
    throw invalid(
      'give exactly one of `clients` (ioredis instances) or `nodes` (redis:// URLs or ioredis options)',
    );
  }
  const list: readonly unknown[] | undefined = clients ?? nodes;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid(
      `\`${clients ? 'clients' : 'nodes'}\` must be a non-empty array (1 node for development, 3 or 5 in production)`,
    );
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw invalid(
      `prefix must be a string without '{' or '}' (they are Redis Cluster hash tags); got ${JSON.stringify(prefix)}`,
    );
  }
  const nodeTimeoutMs =
    options.nodeTimeout === undefined
      ? undefined
      : toMs(options.nodeTimeout, 'nodeTimeout', { error: { backend: BACKEND, operation: 'configure' } });
  if (nodeTimeoutMs === 0) throw invalid('nodeTimeout must be more than 0 ms');
  for (const flag of ['fencing', 'releaseNotifications'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw invalid(`${flag} must be a boolean; got ${typeof options[flag]}`);
    }
  }
  if (clients) {
    clients.forEach((client, index) => {
      if (
        !client ||
        typeof (client as Redis).defineCommand !== 'function' ||
        typeof (client as Redis).status !== 'string'
      ) {
        throw invalid(`clients[${index}] is not an ioredis Redis or Cluster instance`);
      }
    });
  } else {
    nodes!.forEach((node, index) => {
      if (
        typeof node === 'string' ? !/^rediss?:\/\/./.test(node) : node === null || typeof node !== 'object'
      ) {
        throw invalid(
          `nodes[${index}] must be a redis:// URL or ioredis options; got ${JSON.stringify(node)}`,
        );
      }
    });
  }
  const evictingNodes = options.evictingNodes ?? 'refuse';
  if (evictingNodes !== 'refuse' && evictingNodes !== 'warn') {
    throw invalid(`evictingNodes must be 'refuse' or 'warn'; got ${JSON.stringify(evictingNodes)}`);
  }
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw invalid('onWarning must be a function');
  }
  const created = nodes ? nodes.map((node) => createLockClient(node, options.clientOptions)) : [];
  return {
    clients: clients ? [...clients] : created,
    owned: created.length,
    prefix,
    nodeTimeoutMs,
    fencing: options.fencing ?? true,
    notifications: options.releaseNotifications ?? true,
    evictingNodes,
    warn: options.onWarning ?? emitWarningOnce,
  };
}
