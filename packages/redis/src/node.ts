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

interface Corkable {
  cork(): void;
  uncork(): void;
  readonly writable?: boolean;
}

/** One independent Redis master (or a whole Cluster, counted as one node). */
export class LockNode {
  readonly client: ScriptedClient;
  readonly name: string;
  /** Created by the backend, so closed by it. */
  readonly owned: boolean;
  readonly isCluster: boolean;
  /**
   * Acquire with plain `SET NX PX GET` + `INCR` (Redis >= 7.0), a third of the server time of a
   * script; cleared for good when the server rejects that syntax (older Redis), then the
   * acquire script is used.
   */
  plainAcquire = true;
  #ready: Promise<void> | undefined;
  /** Commands written in the current burst: 0, 1 (written directly) or 2 (more; the socket is corked). */
  #burst: 0 | 1 | 2 = 0;
  #corked: Corkable | undefined;

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
  run<T>(command: (client: ScriptedClient, alone: boolean) => Promise<T>): Promise<T> {
    const status = this.client.status;
    if (status === 'ready') return this.#write(command);
    if (!(status === 'wait' || status === 'connecting' || status === 'connect')) {
      return command(this.client, false);
    }
    this.#ready ??= this.#whenReady();
    return this.#ready.then(() => command(this.client, false));
  }

  /**
   * Coalesces the commands written to this node in one burst of callbacks (many leases'
   * operations resuming on one batch of replies) into as few socket writes as it can without
   * adding latency. The first `run` of a burst writes at once (a lone operation, the
   * sequential case, must not pay for a deferred write: it costs more CPU than the write it
   * would save); from the second on, the socket stays corked until the current callbacks and
   * their microtasks are done (`process.nextTick`). `command` learns whether it is `alone`, the
   * first of its burst: a lone command waits for the server, the rest for this process's CPU.
   */
  #write<T>(command: (client: ScriptedClient, alone: boolean) => Promise<T>): Promise<T> {
    if (this.#burst === 0) {
      // Not even a synchronous cork/uncork around it: measured, that costs more than a second write.
      this.#burst = 1;
      process.nextTick(this.#endBurst);
      return command(this.client, true);
    }
    if (this.#burst === 1 && !this.isCluster) {
      const stream = (this.client as { stream?: Corkable }).stream;
      if (stream?.cork && stream.writable) {
        stream.cork();
        this.#corked = stream;
        this.#burst = 2;
      }
    }
    return command(this.client, false);
  }

  readonly #endBurst = (): void => {
    this.#corked?.uncork();
    this.#corked = undefined;
    this.#burst = 0;
  };

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
