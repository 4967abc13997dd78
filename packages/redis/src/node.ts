import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { defineScripts, type ScriptedClient } from './scripts.js';

/** How long an operation waits for a node that is still connecting: `lockClientOptions.connectTimeout`. */
export const CONNECT_BUDGET_MS = 2_000;

/**
 * ioredis settings that keep a lock client honest: a command to a node that is down fails at
 * once instead of waiting in an offline queue, is never re-sent after a reconnect (a late
 * `SET NX` could take a lock nobody waits for), and never waits forever.
 */
export const lockClientOptions: RedisOptions = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 2_000,
  connectTimeout: CONNECT_BUDGET_MS,
  retryStrategy: (attempt: number) => Math.min(50 * attempt, 1_000),
};

/** A Redis server address: a `redis://` URL or ioredis options. */
export type RedisNodeSpec = string | RedisOptions;

/** Creates an ioredis client with `lockClientOptions` (yours override them). */
export function createLockClient(spec: RedisNodeSpec, overrides: RedisOptions = {}): Redis {
  return typeof spec === 'string'
    ? new Redis(spec, { ...lockClientOptions, ...overrides })
    : new Redis({ ...lockClientOptions, ...spec, ...overrides });
}

/** One independent Redis master (or a whole Cluster, counted as one node). */
export class LockNode {
  readonly client: ScriptedClient;
  readonly name: string;
  /** Created by the backend, so closed by it. */
  readonly owned: boolean;
  readonly isCluster: boolean;
  #ready: Promise<void> | undefined;
  #corked = false;

  constructor(client: Redis | Cluster, owned: boolean) {
    this.client = defineScripts(client);
    this.owned = owned;
    this.isCluster = (client as { isCluster?: boolean }).isCluster === true;
    this.name = nodeName(client, this.isCluster);
    if (owned) client.on('error', () => {}); // failures surface through commands; avoid "unhandled error event" logs
  }

  /** The client has not finished connecting yet (a new client's first operation). */
  get connecting(): boolean {
    const status = this.client.status;
    return status === 'wait' || status === 'connecting' || status === 'connect';
  }

  /**
   * Runs `command` once the connection is up. A client still connecting is waited for (the
   * caller's per-node timeout bounds that); one that is down fails at once, in ioredis.
   */
  run<T>(command: (client: ScriptedClient) => Promise<T>): Promise<T> {
    const status = this.client.status;
    if (status === 'ready') {
      this.#cork();
      return command(this.client);
    }
    if (!(status === 'wait' || status === 'connecting' || status === 'connect')) return command(this.client);
    this.#ready ??= this.#whenReady();
    return this.#ready.then(() => command(this.client));
  }

  /**
   * Coalesces the commands written to this node in one burst of callbacks (many leases'
   * operations resuming on one batch of replies) into one socket write: the socket is corked
   * until the current callbacks and their microtasks are done (`process.nextTick`), which adds
   * no latency.
   */
  #cork(): void {
    if (this.#corked || this.isCluster) return;
    const stream = (this.client as { stream?: { cork?(): void; uncork?(): void; writable?: boolean } })
      .stream;
    if (!stream?.cork || !stream.writable) return;
    stream.cork();
    this.#corked = true;
    process.nextTick(() => {
      this.#corked = false;
      stream.uncork!();
    });
  }

  #whenReady(): Promise<void> {
    const client = this.client;
    return new Promise<void>((resolve) => {
      const done = () => {
        client.off('ready', done);
        client.off('end', done);
        client.off('reconnecting', done);
        this.#ready = undefined;
        resolve(); // on failure the command itself fails fast
      };
      client.on('ready', done);
      client.on('end', done);
      client.on('reconnecting', done);
      if (client.status === 'wait') client.connect().catch(() => {});
    });
  }

  /** Closes a client the backend created: QUIT (lets pending replies arrive), bounded, then disconnect. */
  async close(): Promise<void> {
    if (!this.owned) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.quit().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 500);
      }),
    ]);
    clearTimeout(timer);
    this.client.disconnect();
  }
}

function nodeName(client: Redis | Cluster, isCluster: boolean): string {
  if (isCluster) {
    const nodes = (client as unknown as { startupNodes: unknown }).startupNodes as readonly (
      | string
      | { host?: string; port?: number }
    )[];
    return `cluster(${nodes.map((node) => (typeof node === 'string' ? node : `${node.host ?? '127.0.0.1'}:${node.port ?? 6379}`)).join(',')})`;
  }
  const options = (client as Redis).options;
  return options.path ? options.path : `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
}
