import { type Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import { NodeUnavailableError } from './errors.js';
import { isNoScript, type LuaScript } from './scripts.js';

/** How long an operation waits for a node that is still connecting: `lockClientOptions.connectTimeout`. */
export const CONNECT_BUDGET_MS = 2_000;

/**
 * How long a connection may go without a byte from its server while commands wait for an
 * answer: `lockClientOptions.socketTimeout`.
 */
export const SOCKET_TIMEOUT_MS = 2_000;

/**
 * ioredis settings that keep a lock client honest: a command to a node that is down fails at
 * once instead of waiting in an offline queue, is never re-sent after a reconnect (a late
 * `SET NX` could take a lock nobody waits for), and never waits forever: a node that stops
 * answering for `socketTimeout` has its connection dropped, which fails every command waiting
 * on it (and frees them), and is reconnected. That bound is one timer per read, where ioredis'
 * `commandTimeout` is one per command (with six per acquire+release, about a tenth of the client
 * CPU); every leasekit operation is bounded sooner anyway, by its `nodeTimeout`. On the clients
 * the backend creates itself, it keeps the bound without ioredis' timer per read (`LockNode`).
 */
export const lockClientOptions: RedisOptions = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  socketTimeout: SOCKET_TIMEOUT_MS,
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

/** ioredis' `sendCommand` stream argument (its `PipelineWriteableStream`). */
interface CommandSink {
  readonly isPipeline: true;
  readonly destination: { readonly redis: Redis };
  write(data: string | Buffer): boolean;
}

const UTF8 = { replyEncoding: 'utf8' } as const;

interface Corkable {
  cork(): void;
  uncork(): void;
  readonly writable?: boolean;
}

/** One independent Redis master (or a whole Cluster, counted as one node). */
export class LockNode {
  readonly client: Redis | Cluster;
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
  /** Until its first connection is up: only then may an operation give it the time to connect. */
  #neverReady: boolean;
  /** Scripts sent in full (`EVAL`, which caches them) on the current connection. */
  readonly #sent = new Set<LuaScript>();
  /** `run` calls in the current burst (the callbacks of one event and their microtasks). */
  #runs = 0;
  #corked: Corkable | undefined;
  /**
   * Only leasekit writes to this connection (a client the backend created): a burst's later
   * commands can wait in `#batch` until the burst ends, since nothing else could overtake them.
   * Elsewhere the socket is corked instead, which keeps every writer's order.
   */
  readonly #exclusive: boolean;
  /** `#batch` stays open until the burst ends (an exclusive connection's burst). */
  #burstBatch = false;
  /** The last burst had more than one `run` call. */
  #wasBurst = false;
  /** Commands sent but not yet written: those of the current `run` call, or of the burst. */
  #batch: string | undefined;
  /**
   * Where ioredis writes a command while a batch is open (`sendCommand`'s stream argument).
   * Outside one (a resend after a reconnect, which lock clients never do, but a caller's own
   * client might), it writes straight to the socket.
   */
  readonly #sink: CommandSink;
  /** The error of commands refused while the client is not connected, for its current status. */
  #unavailable: NodeUnavailableError | undefined;
  /** The client's `keyPrefix`, which ioredis' own command methods apply. */
  readonly #keyPrefix: string | undefined;
  /**
   * Watch for a stalled server (exclusive connections only: on a shared one, an application's
   * blocking command would look like one).
   */
  readonly #watchStall: boolean;
  /**
   * Commands may be written by `#queue` (see `#direct`): a watched connection whose options
   * never make ioredis time, re-send or hold back a queued command (each of those needs its
   * `Command`), and add no key prefix.
   */
  readonly #writesItself: boolean;
  /** A node with commands unanswered for this long, and not a byte since, is stalled. */
  readonly #stallMs: number;
  /**
   * When the node was last seen to answer (its socket's byte count had moved since the last
   * look), or last got a command with none unanswered. Read from the byte count, not from a
   * `data` listener: a second listener makes every read's `emit` copy the listener array.
   */
  #progressAt = 0;
  #bytesRead = 0;
  #stalled: NodeUnavailableError | undefined;
  /**
   * The client's `socketTimeout`, taken over from ioredis on a watched connection: ioredis sets a
   * timer and a `once('data')` listener for every read while commands wait (measured,
   * sequential: about a sixth of the client CPU per operation). Here one timer per node checks
   * `#progressAt`, set again only while commands are still waiting when it fires.
   */
  readonly socketTimeoutMs: number | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #closing = false;
  /** The backend's connection check (see `checkOnConnect`). */
  #check: (() => Promise<void>) | undefined;
  /** A connection check in flight: every operation waits for it (it is short and bounded). */
  #gate: Promise<void> | undefined;
  /**
   * Why operations that count fences (acquire, hand-over) are refused on this node now: a
   * restart without its data whose fence counters are still being brought up, or a setting that
   * makes it unsafe (see `node-check.ts`). `undefined`: it counts.
   */
  refusal: NodeUnavailableError | undefined;
  /** Called when a refused operation comes in: the check may try again. */
  onRefused: (() => void) | undefined;
  /** The server's `run_id` at the last connection check: a new one means it restarted. */
  runId: string | undefined;

  /**
   * `stallMs`: refuse commands for a connected node that has left commands unanswered for this
   * long without a byte in between (a stopped or partitioned server keeps its connection), until
   * it answers again. `Infinity`: never.
   */
  constructor(client: Redis | Cluster, owned: boolean, stallMs: number = Infinity) {
    this.client = client;
    this.owned = owned;
    this.#keyPrefix = client.options.keyPrefix;
    this.#sink = {
      isPipeline: true,
      destination: { redis: client as Redis },
      write: (data) => {
        if (this.#batch !== undefined && typeof data === 'string') {
          this.#batch += data;
          return true;
        }
        this.#flush();
        return (this.client as Redis).stream.write(data);
      },
    };
    this.#neverReady = client.status !== 'ready';
    client.on('ready', () => {
      this.#neverReady = false;
      this.#progressNow();
      this.#sent.clear(); // a new connection, maybe to a restarted server
      this.recheck();
    });
    this.isCluster = (client as { isCluster?: boolean }).isCluster === true;
    this.#exclusive = owned && !this.isCluster;
    this.name = nodeName(client, this.isCluster);
    this.#stallMs = stallMs;
    this.#watchStall = this.#exclusive && stallMs < Infinity && unanswered(client) !== undefined;
    const options = client.options as RedisOptions;
    this.#writesItself =
      this.#watchStall &&
      !this.#keyPrefix &&
      options.commandTimeout === undefined &&
      !options.reconnectOnError &&
      !options.autoResendUnfulfilledCommands &&
      !options.enableOfflineQueue;
    this.socketTimeoutMs = this.isCluster ? undefined : (client as Redis).options.socketTimeout;
    if (this.#watchStall) {
      // Its bound is kept by `#watch` from now on.
      (client as Redis).options.socketTimeout = undefined;
      // ioredis makes a new socket per connection.
      const listen = () => {
        // A new socket (its byte count starts again); its ready check is waited for, too.
        this.#progressNow();
        this.#watch();
      };
      client.on('connect', listen);
      if (client.status === 'connect' || client.status === 'ready') listen();
    }
    if (owned) client.on('error', () => {}); // failures surface through commands; avoid "unhandled error event" logs
  }

  /**
   * The client has not finished its first connection (a new backend's first operation). A node
   * that was up and is reconnecting is more likely down: it gets no extra time.
   */
  get connecting(): boolean {
    return this.#neverReady && isConnecting(this.client.status);
  }

  /**
   * Runs `command` once the connection is up. A client making its first connection is waited
   * for (the caller's per-node timeout bounds that); one that is down or reconnecting is refused
   * at once, before the command is built: a node that dropped its connection is probably down,
   * and commands for it must not queue (a stopped server accepts TCP connections it never
   * answers, so its client can sit in `connect` for seconds; waiting there cost a fifth of the
   * throughput of the nodes that do answer).
   */
  run<T>(command: (client: Redis | Cluster) => Promise<T>): Promise<T> {
    // A new connection being checked: in order behind the check (see `recheck`).
    if (this.#gate !== undefined) return this.#gate.then(() => this.run(command));
    const status = this.client.status;
    if (status === 'ready') {
      if (this.#watchStall && unanswered(this.client)! > 0 && this.#isStalled()) {
        return Promise.reject(this.#stalled);
      }
      return this.#write(command);
    }
    if (!this.#neverReady || !isConnecting(status)) {
      // A client with an offline queue (one of yours) queues it; a lock client would refuse it.
      if (this.client.options.enableOfflineQueue) return command(this.client);
      if (this.#unavailable?.status !== status)
        this.#unavailable = new NodeUnavailableError(this.name, status);
      return Promise.reject(this.#unavailable);
    }
    this.#ready ??= this.#whenReady();
    return this.#ready.then(() =>
      this.#gate === undefined ? command(this.client) : this.#gate.then(() => command(this.client)),
    );
  }

  /**
   * `run` for an operation whose answer counts toward a fence (an acquire, a hand-over): refused
   * while `refusal` is set (a node restarted without its data must have its fence counters
   * brought up from the others first), after the connection check of a new connection.
   */
  runCounted<T>(command: (client: Redis | Cluster) => Promise<T>): Promise<T> {
    if (this.#gate !== undefined) return this.#gate.then(() => this.runCounted(command));
    // Refused only while connected: otherwise the connection's own state is the answer.
    if (this.refusal !== undefined && this.client.status === 'ready') {
      this.onRefused?.();
      return Promise.reject(this.refusal);
    }
    if (this.#neverReady && isConnecting(this.client.status)) {
      // The first connection: its check starts on 'ready', before this continues.
      this.#ready ??= this.#whenReady();
      return this.#ready.then(() => this.runCounted(command));
    }
    return this.run(command);
  }

  /**
   * Sets the check run at every new connection (the first one included, and now if the client is
   * connected already), before any operation is sent on it: see `node-check.ts`.
   */
  checkOnConnect(check: () => Promise<void>): void {
    this.#check = check;
    if (this.client.status === 'ready') this.recheck();
  }

  /** Runs the connection check now; operations wait for it. */
  recheck(): void {
    const check = this.#check;
    if (check === undefined || this.#closing) return;
    const gate: Promise<void> = check()
      .catch(() => {})
      .finally(() => {
        if (this.#gate === gate) this.#gate = undefined;
      });
    this.#gate = gate;
  }

  /**
   * Sends a command through ioredis' public API (for the connection check and the counter
   * resync, off the hot path): the batch of commands sent so far is written first, so the
   * answers come in the order ioredis expects, and the silence watch covers this one too.
   */
  call<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#neverReady && isConnecting(this.client.status)) {
      this.#ready ??= this.#whenReady();
      return this.#ready.then(() => this.call(command));
    }
    if (this.client.status !== 'ready') {
      return Promise.reject(new NodeUnavailableError(this.name, this.client.status));
    }
    this.flush(); // (also arms the silence watch, which then covers this command)
    return command(this.client as Redis);
  }

  /**
   * Other operations share this one's burst, or did the last one: the node is under load, where
   * its server's time is what counts (inside `run`).
   */
  get underLoad(): boolean {
    return this.#runs > 1 || this.#wasBurst;
  }

  /**
   * Runs a Lua script: in full (`EVAL`) the first time on a connection, then by `EVALSHA`, the
   * way ioredis' `defineCommand` does, without its per-call wrapper (a custom command class and
   * a fallback promise, which cost more client CPU than the command). Sending it in full first
   * matters: a `NOSCRIPT` answer sends the script again after commands written since, out of
   * order (a stale attempt's `SET` could then land after its unlock). It still can after a
   * `SCRIPT FLUSH` on a live connection (or on a Cluster shard not yet used), which this survives
   * the same way. Call it where a command may be written: inside `run`.
   */
  evalScript<T>(script: LuaScript, ...args: (string | number)[]): Promise<T> {
    if (!this.#sent.has(script)) {
      this.#sent.add(script);
      return this.send<T>('eval', script.lua, script.keys, ...args);
    }
    if (this.#direct) {
      return new Promise<T>((resolve, reject) => {
        this.#queue('evalsha', [script.sha, script.keys, ...args], (ok, value) => {
          if (ok) resolve(value as T);
          else {
            try {
              resolve(this.#evalAgain<T>(script, args, value));
            } catch (error) {
              reject(error);
            }
          }
        });
      });
    }
    return this.send<T>('evalsha', script.sha, script.keys, ...args).catch((error: unknown) =>
      this.#evalAgain<T>(script, args, error),
    );
  }

  /** After `EVALSHA` failed with `error`: the script in full if the node lacked it, else the error. */
  #evalAgain<T>(script: LuaScript, args: readonly (string | number)[], error: unknown): Promise<T> {
    if (!isNoScript(error)) throw error;
    this.#sent.delete(script);
    return this.send<T>('eval', script.lua, script.keys, ...args);
  }

  /**
   * Sends one command. Inside `run`, the commands of one call go out in one socket write (an
   * acquire's `SET` and `INCR`: a write is a system call, which costs more than building both).
   * The batch is written before `run` returns, so the connection's order stays the order of
   * sending, also on a client the application shares: nothing else runs in between.
   */
  send<T>(name: string, ...args: (string | number)[]): Promise<T> {
    const client = this.client;
    if (this.isCluster) return client.call(name, ...args) as Promise<T>;
    if (this.#direct) {
      return new Promise<T>((resolve, reject) => {
        this.#queue(name, args, (ok, value) => (ok ? resolve(value as T) : reject(value)));
      });
    }
    this.#watchWrite();
    const prefix = this.#keyPrefix;
    const command = new Command(name, args, prefix ? { replyEncoding: 'utf8', keyPrefix: prefix } : UTF8);
    (client as Redis).sendCommand(command, this.#batch === undefined ? undefined : this.#sink);
    return command.promise as Promise<T>;
  }

  /**
   * Sends two commands, one after the other, and settles once, with what `combine` makes of
   * both answers (a node answers in order: the second answer comes last). The answers are
   * handled together, so a failure of the first is never left unhandled while the second is
   * awaited. Call it inside `run`.
   */
  sendPair<A, B, R>(
    first: readonly [string, ...(string | number)[]],
    second: readonly [string, ...(string | number)[]],
    combine: (a: Settled<A>, b: Settled<B>) => R | Promise<R>,
  ): Promise<R> {
    if (this.#direct) {
      return new Promise<R>((resolve, reject) => {
        let a: Settled<A> | undefined;
        this.#queue(first[0], first.slice(1), (ok, value) => {
          a = ok ? { ok, value: value as A } : { ok, error: value };
        });
        this.#queue(second[0], second.slice(1), (ok, value) => {
          try {
            resolve(combine(a!, ok ? { ok, value: value as B } : { ok, error: value }));
          } catch (error) {
            reject(error);
          }
        });
      });
    }
    const a = this.send<A>(...first);
    const b = this.send<B>(...second);
    return a.then(
      (value) =>
        b.then(
          (next) => combine({ ok: true, value }, { ok: true, value: next }),
          (error: unknown) => combine({ ok: true, value }, { ok: false, error }),
        ),
      (error: unknown) =>
        b.then(
          (next) => combine({ ok: false, error }, { ok: true, value: next }),
          (next: unknown) => combine({ ok: false, error }, { ok: false, error: next }),
        ),
    );
  }

  /**
   * Inside `run` on a connection of ours that is ready: commands are written by `#queue`, not by
   * ioredis' `sendCommand`.
   */
  get #direct(): boolean {
    const client = this.client as Redis;
    return (
      this.#writesItself &&
      this.#batch !== undefined &&
      client.status === 'ready' &&
      client.stream?.writable === true
    );
  }

  /**
   * Writes one command into the open batch and queues it for its answer, as ioredis'
   * `sendCommand` does, without its per-command work (a `Command` flattens and converts its
   * arguments, makes a promise with three closures, looks up flags by name on every send):
   * measured under load, about a fifth of the client CPU of a lock operation.
   */
  #queue(name: string, args: readonly (string | number)[], settle: Settle): void {
    this.#watchWrite();
    const command = new QueuedCommand(name, args, settle);
    this.#batch += command.toWritable();
    const client = this.client as unknown as ClientInternals;
    client.commandQueue.push({ command, stream: undefined, select: client.condition?.select });
  }

  /** A command is about to be written: an idle node's silence counts from now, and is watched. */
  #watchWrite(): void {
    if (!this.#watchStall) return;
    if (unanswered(this.client) === 0) this.#progressNow();
    if (this.#watchdog === undefined) this.#watch();
  }

  /** Runs `command` with a batch open, then writes what it sent in one write. */
  #batched<T>(command: (client: Redis | Cluster) => Promise<T>): Promise<T> {
    if (this.isCluster || this.#batch !== undefined) return command(this.client);
    this.#batch = '';
    try {
      return command(this.client);
    } finally {
      this.#flush();
    }
  }

  /**
   * Writes the commands sent so far. Call it before writing to the client other than by
   * `send` (a pipeline, `QUIT`), so that those do not overtake them.
   */
  flush(): void {
    // What is written next (a pipeline) is waited for from now, not from an older answer.
    if (this.#watchStall) {
      if (unanswered(this.client) === 0) this.#progressNow();
      this.#watch();
    }
    this.#burstBatch = false;
    this.#flush();
  }

  /** Progress as of now: what the node sent so far is accounted for. */
  #progressNow(): void {
    this.#bytesRead = (this.client as Redis).stream?.bytesRead ?? 0;
    this.#progressAt = performance.now();
  }

  /** Moves `#progressAt` to now if the node sent bytes since the last look. */
  #observe(): void {
    const read = (this.client as Redis).stream?.bytesRead ?? 0;
    if (read === this.#bytesRead) return;
    this.#bytesRead = read;
    this.#progressAt = performance.now();
  }

  /** Checks for silence `socketTimeoutMs` after the last progress (no-op when already set). */
  #watch(): void {
    const limit = this.socketTimeoutMs;
    if (limit === undefined || this.#watchdog !== undefined || this.#closing) return;
    const wait = Math.max(1, this.#progressAt + limit - performance.now());
    this.#watchdog = setTimeout(this.#checkSilence, wait);
    this.#watchdog.unref(); // the socket keeps the process up while commands wait
  }

  /**
   * What ioredis' `socketTimeout` does: a connection with commands waiting (the ready check of a
   * new one included) and not a byte for `socketTimeoutMs` is dropped, which fails those
   * commands, and reconnected. Nothing waiting: the timer ends, and the next command sets it.
   */
  readonly #checkSilence = (): void => {
    this.#watchdog = undefined;
    const client = this.client as Redis;
    if (!(unanswered(client)! > 0) || !client.stream || this.#closing) return;
    this.#observe();
    const silentMs = performance.now() - this.#progressAt;
    if (silentMs < this.socketTimeoutMs!) {
      this.#watch();
      return;
    }
    client.stream.destroy(
      new Error(
        `Socket timeout: ${this.name} sent nothing for ${Math.round(silentMs)} ms with commands waiting`,
      ),
    );
  };

  /**
   * Commands are unanswered (the caller checked) and the node has not answered for `stallMs`:
   * more commands would only queue behind them, each operation then waiting out its node
   * timeout; refused instead, like a node that is down, until it answers.
   */
  #isStalled(): boolean {
    this.#observe();
    const silentMs = performance.now() - this.#progressAt;
    if (silentMs <= this.#stallMs) return false;
    this.#stalled ??= new NodeUnavailableError(
      this.name,
      'stalled',
      `has not answered for ${Math.round(this.#stallMs)} ms`,
    );
    return true;
  }

  #flush(): void {
    const data = this.#batch;
    this.#batch = undefined;
    if (data) (this.client as Redis).stream.write(data);
  }

  /**
   * Coalesces the commands written to this node in one burst of callbacks (many leases'
   * operations resuming on one batch of replies) into as few socket writes as it can without
   * adding latency. The commands of the second and later `run` calls of a burst are written
   * together once the current callbacks and their microtasks are done (`process.nextTick`): as
   * one string on an exclusive connection, else through the corked socket. The first `run`
   * writes at once (a lone operation, the sequential case, must not wait for the others to be
   * built), unless the last burst had several: then, on an exclusive connection, it joins the
   * rest (under load one write per burst costs less than the head start it gives the server).
   */
  #write<T>(command: (client: Redis | Cluster) => Promise<T>): Promise<T> {
    const runs = this.#runs++;
    if (runs === 0) {
      endOfBurst(this.#endBurst);
      if (this.#exclusive && this.#wasBurst) this.#openBurstBatch();
    } else if (runs === 1 && !this.isCluster && !this.#burstBatch) {
      if (this.#exclusive) this.#openBurstBatch();
      else {
        const stream = (this.client as { stream?: Corkable }).stream;
        if (stream?.cork && stream.writable) {
          stream.cork();
          this.#corked = stream;
        }
      }
    }
    return this.#batched(command);
  }

  #openBurstBatch(): void {
    this.#batch ??= '';
    this.#burstBatch = true;
  }

  readonly #endBurst = (): void => {
    this.#wasBurst = this.#runs > 1;
    this.#runs = 0;
    if (this.#burstBatch) this.flush();
    this.#corked?.uncork();
    this.#corked = undefined;
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
    this.#closing = true;
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    this.flush();
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

/** The `#endBurst`s of the nodes written to in the current burst: one `process.nextTick` for all. */
let burstEnds: (() => void)[] = [];

function endOfBurst(end: () => void): void {
  if (burstEnds.push(end) === 1) process.nextTick(endBursts);
}

function endBursts(): void {
  const ends = burstEnds;
  burstEnds = [];
  for (const end of ends) end();
}

/** Commands written to the current connection and not answered yet (ioredis' `commandQueue`, new per connection). */
function unanswered(client: Redis | Cluster): number | undefined {
  return (client as unknown as { commandQueue?: { length: number } }).commandQueue?.length;
}

function isConnecting(status: string): boolean {
  return status === 'wait' || status === 'connecting' || status === 'connect';
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

/** One answer: its value, or the error it failed with. */
export type Settled<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown };

type Settle = (ok: boolean, value: unknown) => void;

/** What `LockNode` reaches of an ioredis client to queue a command it wrote itself. */
interface ClientInternals {
  readonly commandQueue: { push(item: { command: QueuedCommand; stream: undefined; select: unknown }): void };
  readonly condition?: { readonly select?: unknown };
}

/**
 * A command `LockNode` wrote itself: what ioredis' reply handling reads of a queued command
 * (`name` and `args` for errors, `resolve`, `reject`).
 */
class QueuedCommand {
  readonly name: string;
  readonly args: readonly (string | number)[];
  readonly #settle: Settle;

  constructor(name: string, args: readonly (string | number)[], settle: Settle) {
    this.name = name;
    this.args = args;
    this.#settle = settle;
  }

  /** ioredis hands answers over as Buffers (arrays of them for an array answer). */
  resolve(reply: unknown): void {
    this.#settle(true, utf8(reply));
  }

  reject(error: unknown): void {
    this.#settle(false, error);
  }

  /** The command in the protocol's request form (RESP). */
  toWritable(): string {
    const args = this.args;
    let out = `*${args.length + 1}\r\n$${this.name.length}\r\n${this.name}\r\n`;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      const text = typeof arg === 'string' ? arg : String(arg);
      out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
    }
    return out;
  }
}

function utf8(reply: unknown): unknown {
  if (reply instanceof Buffer) return reply.toString();
  if (Array.isArray(reply)) return reply.map(utf8);
  return reply;
}
