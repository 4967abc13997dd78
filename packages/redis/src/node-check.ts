import type { Redis } from 'ioredis';
import { NodeUnavailableError } from './errors.js';
import { CONNECT_BUDGET_MS, type LockNode } from './node.js';
import type { NodeSet } from './node-set.js';

/** What to do with a node that may evict keys (`maxmemory` set, a policy other than `noeviction`). */
export type EvictingNodes = 'refuse' | 'warn';

export interface NodeCheckOptions {
  readonly evictingNodes: EvictingNodes;
  readonly warn: (message: string) => void;
}

// Raises each counter (KEYS) to at least its value (ARGV), never lowers it. On the node being
// brought up only, so no lock is involved: a counter only has to be at least every fence that
// was recorded for its key.
const RAISE_COUNTERS = `
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') < tonumber(ARGV[i]) then redis.call('SET', key, ARGV[i]) end
end
return #KEYS
`;

/** Counters copied per round trip during a resync. */
const BATCH = 500;
/** A failed check or resync is tried again on a refused operation, at most this often. */
const RETRY_MS = 1_000;

/**
 * Checks every node of `set` at each new connection (see `LockNode.checkOnConnect`); not for
 * Cluster nodes (a Cluster's shards fail over on their own, see the README):
 *
 * - **Configuration**: a node with `maxmemory` and an evicting `maxmemory-policy` can drop lock
 *   keys (a second holder gets in) and fence counters (fences repeat): refused for acquisitions,
 *   or with `evictingNodes: 'warn'` used with a warning. A node without AOF persistence gets a
 *   warning: a restart loses its locks (the README's delayed restart) and its counters.
 * - **Restart**: the node's `run_id` changed since this process last connected (a restart, with
 *   or without its data: even AOF with `appendfsync everysec` loses the last second). Its fence
 *   counters are brought up from the others before it counts toward a fence again (acquisitions
 *   and hand-overs are refused on it meanwhile): every counter key found on `N - quorum + 1` of the
 *   other nodes is raised to the highest value they hold. A fence F was recorded on a quorum;
 *   without this node, at least `quorum - 1` of the others still hold F, and any
 *   `N - quorum + 1` of the `N - 1` others include one of them. Fences recorded while this node
 *   was refused were recorded on a quorum of the others, which any later quorum meets outside
 *   this node as usual. A node without the sync marker (`prefix` + `node-sync`: new to
 *   leasekit, or emptied before this process first connected, so it never saw the old `run_id`)
 *   counts at once, and is brought up the same way in the background (a new deployment whose
 *   nodes are not all up must not be refused); the marker is set after a resync.
 */
export function checkNodes(set: NodeSet, options: NodeCheckOptions): void {
  if (set.nodes.some((node) => node.isCluster)) return;
  for (const node of set.nodes) {
    const state: ResyncState = { running: undefined, retryAt: 0 };
    node.onRefused = () => {
      if (state.running || performance.now() < state.retryAt || node.client.status !== 'ready') return;
      node.recheck();
    };
    node.checkOnConnect(() => checkNode(set, node, options, state));
  }
}

interface ResyncState {
  running: Promise<void> | undefined;
  /** Not before this (monotonic ms) may a refused operation start the check again. */
  retryAt: number;
}

/** The quick part of a connection check (one round trip, bounded); a resync runs after it, in the background. */
async function checkNode(
  set: NodeSet,
  node: LockNode,
  options: NodeCheckOptions,
  state: ResyncState,
): Promise<void> {
  const marker = `${set.prefix}node-sync`;
  let timer: NodeJS.Timeout | undefined;
  const bounded = <T>(answer: Promise<T>): Promise<T> =>
    Promise.race([
      answer,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer to the connection check within ${CONNECT_BUDGET_MS} ms`)),
          CONNECT_BUDGET_MS,
        ).unref();
      }),
    ]).finally(() => clearTimeout(timer));
  let info: PromiseSettledResult<string>;
  let synced: PromiseSettledResult<string | null>;
  try {
    [info, synced] = await bounded(
      Promise.allSettled([node.call((client) => client.info()), node.call((client) => client.get(marker))]),
    );
  } catch (error) {
    refuse(node, state, 'unchecked', `could not be checked after connecting (${message(error)})`);
    return;
  }
  if (synced.status === 'rejected') {
    refuse(node, state, 'unchecked', `could not be checked after connecting (${message(synced.reason)})`);
    return;
  }
  // INFO may be disabled (renamed on some managed services): then only the marker is checked.
  const fields = info.status === 'fulfilled' ? parseInfo(info.value) : new Map<string, string>();
  const configRefusal = checkConfiguration(node, fields, options);
  const runId = fields.get('run_id');
  const restarted = runId !== undefined && node.runId !== undefined && runId !== node.runId;
  if (!restarted) {
    if (runId !== undefined) node.runId = runId;
    node.refusal = configRefusal;
    // No marker: a node new to leasekit, or one that lost its data before this process first
    // connected (it never saw the old run_id). It counts (refusing it would stop a new deployment
    // whose other nodes are not all up yet), and its counters are compared with the others' in
    // the background, once per process and server run (not per backend or connection: a node
    // that stays unmarked must not draw that traffic again and again).
    const attempt = `${node.name} ${set.prefix} ${runId ?? ''}`;
    if (synced.value === null && !compared.has(attempt)) {
      compared.add(attempt);
      void resync(set, node, marker, runId).catch((error: unknown) => {
        options.warn(
          `[leasekit] [redis] ${node.name} has no sync marker (new, or restarted without its data before this process connected) and its fence counters could not be compared with the other nodes' (${message(error)}); counted anyway`,
        );
      });
    }
    return;
  }
  if (set.nodes.length === 1) {
    // Nothing to bring the counters up from.
    options.warn(
      `[leasekit] [redis] ${node.name} restarted (new run_id): with a single node its lost fence counters cannot be recovered, so fences may repeat; use 3 or 5 nodes, or AOF persistence`,
    );
    node.runId = runId;
    node.refusal = configRefusal;
    return;
  }
  refuse(
    node,
    state,
    'resyncing',
    'restarted (new run_id): its fence counters are being brought up from the other nodes',
  );
  const running = resync(set, node, marker, runId).then(
    () => {
      // Only now: a resync that failed is done again at the next check, as run_id still differs.
      node.runId = runId;
      node.refusal = configRefusal;
    },
    (error: unknown) => {
      refuse(
        node,
        state,
        'resyncing',
        `restarted (new run_id) and could not get its fence counters back from the other nodes (${message(error)})`,
      );
    },
  );
  state.running = running.finally(() => {
    state.running = undefined;
  });
  // Operations wait for a short resync (a small keyspace's); past the bound the node is refused
  // for acquisitions until it is done.
  await bounded(state.running).catch(() => {});
}

function refuse(node: LockNode, state: ResyncState, status: string, what: string): void {
  node.refusal = new NodeUnavailableError(
    node.name,
    status,
    `${what}; it does not count toward fences until then`,
  );
  state.retryAt = performance.now() + RETRY_MS;
}

/** The node's eviction and persistence settings, from INFO: a refusal, or `undefined`; warnings as configured. */
function checkConfiguration(
  node: LockNode,
  fields: ReadonlyMap<string, string>,
  options: NodeCheckOptions,
): NodeUnavailableError | undefined {
  let refusal: NodeUnavailableError | undefined;
  const maxmemory = Number(fields.get('maxmemory') ?? '0');
  const policy = fields.get('maxmemory_policy');
  if (maxmemory > 0 && policy !== undefined && policy !== 'noeviction') {
    const risk = `may evict keys (maxmemory-policy ${policy} with maxmemory ${maxmemory}): an evicted lock key lets a second holder in, an evicted fence counter makes fences repeat; set maxmemory-policy noeviction (or maxmemory 0)`;
    if (options.evictingNodes === 'refuse') {
      refusal = new NodeUnavailableError(
        node.name,
        'refused',
        `${risk}; refused for acquisitions until then (evictingNodes: 'warn' uses it anyway)`,
      );
    } else {
      options.warn(`[leasekit] [redis] ${node.name} ${risk}; used anyway (evictingNodes: 'warn')`);
    }
  }
  if (fields.get('aof_enabled') === '0') {
    options.warn(
      `[leasekit] [redis] ${node.name} runs without AOF persistence (appendonly no): if it restarts, its locks are gone (keep it out for longer than the longest TTL before it rejoins) and leasekit brings its fence counters back from the other nodes; appendonly yes with appendfsync always keeps both`,
    );
  }
  return refusal;
}

/** Raises `node`'s fence counters to the highest value on enough of the other nodes (see `checkNodes`). */
async function resync(
  set: NodeSet,
  node: LockNode,
  marker: string,
  runId: string | undefined,
): Promise<void> {
  const others = set.nodes.filter((other) => other !== node);
  const needed = set.nodes.length - set.quorum + 1;
  const pattern = `${globEscape(set.prefix)}{*}:fence`;
  const scans = await Promise.allSettled(others.map((other) => scanAll(other, pattern)));
  const sources = others.filter((_, index) => scans[index]!.status === 'fulfilled');
  if (sources.length < needed) {
    throw new Error(`${sources.length} of the ${needed} other nodes needed answered`);
  }
  const keys = new Set<string>();
  for (const scan of scans) if (scan.status === 'fulfilled') for (const key of scan.value) keys.add(key);
  const all = [...keys];
  for (let start = 0; start < all.length; start += BATCH) {
    const batch = all.slice(start, start + BATCH);
    const values = await Promise.all(sources.map((source) => source.call((client) => client.mget(...batch))));
    const highest = batch.map((_, i) =>
      Math.max(0, ...values.map((column) => Number(column[i] ?? '0') || 0)),
    );
    await node.call((client) => client.eval(RAISE_COUNTERS, batch.length, ...batch, ...highest));
  }
  await node.call((client) => client.set(marker, runId ?? 'synced'));
}

/** Every key matching `pattern` on `node` (SCAN: complete for keys that exist throughout, as counters do). */
async function scanAll(node: LockNode, pattern: string): Promise<string[]> {
  const keyPrefix = (node.client as Redis).options.keyPrefix ?? '';
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await node.call((client) =>
      client.scan(cursor, 'MATCH', `${globEscape(keyPrefix)}${pattern}`, 'COUNT', 1000),
    );
    cursor = next;
    // ioredis adds the client's keyPrefix to the keys of later commands itself.
    for (const key of keys) found.push(key.slice(keyPrefix.length));
  } while (cursor !== '0');
  return found;
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&');

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const warned = new Set<string>();

/** Nodes (name, prefix, run_id) whose missing marker this process has tried to settle: once each. */
const compared = new Set<string>();

/** The default `onWarning`: a process warning, once per message. */
export function emitWarningOnce(text: string): void {
  if (warned.has(text)) return;
  warned.add(text);
  process.emitWarning(text, { type: 'LeasekitWarning', code: 'LEASEKIT_REDIS_NODE' });
}
