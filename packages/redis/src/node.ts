import { type ChainableCommander, type Cluster, Command, Pipeline, Redis, type RedisOptions } from 'ioredis';
import { isReplyError, NodeUnavailableError } from './errors.js';
import { BATCH_SCRIPT, isNoScript, type LuaScript } from './scripts.js';

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
 * `commandTimeout` is one per command; every leasekit operation is bounded sooner anyway, by
 * its `nodeTimeout`.
 */
export const lockClientOptions: RedisOptions & { replyMapping?: never } = {
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
    ? new Redis(spec, constructible({ ...lockClientOptions, ...overrides }))
    : new Redis(constructible({ ...lockClientOptions, ...spec, ...overrides }));
}

/**
 * ioredis 6's constructors take `replyMapping?: ReplyMapping` without `| undefined`, which its
 * own `RedisOptions` allows: with `exactOptionalPropertyTypes` one is not the other (ioredis 5 has
 * no such option).
 */
type Constructible = RedisOptions & { replyMapping?: never };

function constructible(options: RedisOptions): Constructible {
  return options as Constructible;
}

const UTF8 = { replyEncoding: 'utf8' } as const;

/** One independent Redis master (or a whole Cluster, counted as one node). */
export class LockNode {
  readonly client: Redis | Cluster;
  /** Created by the backend, so closed by it. */
  readonly owned: boolean;
  readonly isCluster: boolean;
  #name: string | undefined;
  #ready: Promise<void> | undefined;
  /** Until its first connection is up: only then may an operation give it the time to connect. */
  #neverReady: boolean;
  /** Scripts sent in full (`EVAL`, which caches them) on the current connection. */
  readonly #sent = new Set<LuaScript>();
  /** `run` calls in the current burst (the callbacks of one event and their microtasks). */
  #runs = 0;
  /**
   * Only leasekit writes to this connection (a client the backend created): a burst's later
   * commands can wait in `#batch` until the burst ends, since nothing else could overtake them.
   * On a client the application shares, a batch lasts one `run` call (nothing else runs
   * during it), so an application's commands keep their place.
   */
  readonly #exclusive: boolean;
  /** `#batch` stays open until the burst ends (an exclusive connection's burst). */
  #burstBatch = false;
  /** The last burst had more than one `run` call. */
  #wasBurst = false;
  /**
   * Commands sent but not yet written: those of the current `run` call, or of the burst (whose
   * script calls wait as `Queued` entries). Written together as one ioredis pipeline (one socket
   * write), or alone by `sendCommand`.
   */
  #batch: (Command | Queued)[] | undefined;
  /** The error of commands refused while the client is not connected, for its current status. */
  #unavailable: NodeUnavailableError | undefined;
  /** The client's `keyPrefix`, which ioredis' own command methods apply. */
  readonly #keyPrefix: string | undefined;
  /**
   * Watch for a stalled server (exclusive connections only: on a shared one, an application's
   * blocking command would look like one).
   */
  readonly #watchStall: boolean;
  /** A node with commands unanswered for this long, and no answer since, is stalled. */
  readonly #stallMs: number;
  /** Commands this node sent (and pipelines it ran) that have not settled yet. */
  #outstanding = 0;
  /** Which connection `#outstanding` counts for: a new one on every close of the last. */
  #connection = 0;
  /**
   * When the node last answered (a reply, an error reply included), or got a command with none
   * outstanding: what `#outstanding` has waited for since.
   */
  #progressAt = 0;
  #stalled: NodeUnavailableError | undefined;
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
   * long without an answer in between (a stopped or partitioned server keeps its connection
   * until the socket timeout), until it answers again. `Infinity`: never.
   */
  constructor(client: Redis | Cluster, owned: boolean, stallMs: number = Infinity) {
    this.client = client;
    this.owned = owned;
    this.#keyPrefix = client.options.keyPrefix;
    this.#neverReady = client.status !== 'ready';
    client.on('ready', () => {
      this.#neverReady = false;
      this.#progressAt = performance.now();
      this.#sent.clear(); // a new connection, maybe to a restarted server
      this.recheck();
    });
    this.isCluster = (client as { isCluster?: boolean }).isCluster === true;
    this.#exclusive = owned && !this.isCluster;
    this.#stallMs = stallMs;
    this.#watchStall = this.#exclusive && stallMs < Infinity;
    if (this.#watchStall) {
      client.on('close', () => {
        this.#connection++;
        this.#outstanding = 0;
      });
    }
    if (owned) client.on('error', () => {}); // failures surface through commands; avoid "unhandled error event" logs
  }

  /**
   * `host:port` (or the socket path); a Cluster's, `cluster(<its masters>)` once it knows them
   * (ioredis keeps the startup nodes to itself).
   */
  get name(): string {
    if (this.#name !== undefined) return this.#name;
    if (!this.isCluster) {
      const options = (this.client as Redis).options;
      this.#name = options.path ? options.path : address(options);
      return this.#name;
    }
    const masters = (this.client as Cluster).nodes('master');
    if (masters.length === 0) return 'cluster';
    this.#name = `cluster(${masters
      .map((node) => address(node.options))
      .sort()
      .join(',')})`;
    return this.#name;
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
      if (this.#watchStall && this.#outstanding > 0 && this.#isStalled()) {
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
   * Sends a command through ioredis' command methods (for the connection check and the counter
   * resync, off the hot path): the batch of commands sent so far is written first, so the
   * answers come in the order they were sent, and the stall watch counts this one too.
   */
  call<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#neverReady && isConnecting(this.client.status)) {
      this.#ready ??= this.#whenReady();
      return this.#ready.then(() => this.call(command));
    }
    if (this.client.status !== 'ready') {
      return Promise.reject(new NodeUnavailableError(this.name, this.client.status));
    }
    this.flush();
    const answer = command(this.client as Redis);
    this.#track(answer);
    return answer;
  }

  /** Runs `pipeline` after the commands sent before it (renewals in one round trip). */
  exec(pipeline: ChainableCommander): Promise<[Error | null, unknown][]> {
    this.flush();
    const results = pipeline.exec();
    this.#track(results);
    return results.then((values) => values ?? []);
  }

  /**
   * Runs a Lua script: in full (`EVAL`) the first time on a connection, then by `EVALSHA`, the
   * way ioredis' `defineCommand` does, without its per-call wrapper (a custom command class and
   * a fallback promise, which cost more client CPU than the command). Sending it in full first
   * matters: a `NOSCRIPT` answer sends the script again after commands written since, out of
   * order (a stale attempt's `SET` could then land after its unlock). It still can after a
   * `SCRIPT FLUSH` on a live connection (or on a Cluster shard not yet used), which this survives
   * the same way. Call it where a command may be written: inside `run`.
   *
   * In a burst's batch, the call waits for the burst's end, when the script calls sent in a row
   * go out as one command (see `#commandsOf`).
   */
  evalScript<T>(script: LuaScript, ...args: (string | number)[]): Promise<T> {
    const batch = this.#burstBatch ? this.#batch : undefined;
    if (batch !== undefined) {
      return new Promise<T>((resolve, reject) => {
        batch.push({ script, args, resolve: resolve as (value: unknown) => void, reject });
      });
    }
    return this.#eval<T>(script, script.keys, args);
  }

  // Arguments as arrays, never spread into a call: a batch's can outnumber what a call takes.
  #eval<T>(script: LuaScript, keys: number, args: (string | number)[]): Promise<T> {
    if (!this.#sent.has(script)) {
      this.#sent.add(script);
      return this.#sendArgs<T>('eval', [script.lua, keys, ...args]);
    }
    return this.#sendArgs<T>('evalsha', [script.sha, keys, ...args]).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      this.#sent.delete(script);
      return this.#sendArgs<T>('eval', [script.lua, keys, ...args]);
    });
  }

  /**
   * The commands that write `batch`, in its order: script calls in a row become one call of
   * `BATCH_SCRIPT` (a lone one, its own script), each answered from its slot of the result. One
   * command per burst, not one per operation in a pipeline: ioredis gives every `Pipeline` its
   * own hidden class, which leaves it, its commands and their answers to full garbage
   * collections (see bench/README.md); one command costs the server one script call, not one
   * per operation.
   */
  #commandsOf(batch: readonly (Command | Queued)[]): Command[] {
    const commands: Command[] = [];
    this.#batch = commands; // where `send` puts what `#eval` sends
    try {
      for (let i = 0; i < batch.length; ) {
        const entry = batch[i]!;
        if (entry instanceof Command) {
          commands.push(entry);
          i++;
          continue;
        }
        let end = i + 1;
        while (end < batch.length && !(batch[end] instanceof Command)) end++;
        if (end - i === 1) {
          this.#eval(entry.script, entry.script.keys, entry.args).then(entry.resolve, entry.reject);
        } else {
          // Bounded, so that one script call never holds the server up for long.
          for (let from = i; from < end; from += MAX_BATCH_CALLS) {
            this.#evalBatch(batch.slice(from, Math.min(end, from + MAX_BATCH_CALLS)) as Queued[]);
          }
        }
        i = end;
      }
    } finally {
      this.#batch = undefined;
    }
    return commands;
  }

  /** Sends `calls` as one call of `BATCH_SCRIPT`: every call's keys, then every call's arguments. */
  #evalBatch(calls: readonly Queued[]): void {
    const keys: (string | number)[] = [];
    const argv: (string | number)[] = [];
    for (const call of calls) {
      const { script, args } = call;
      for (let i = 0; i < script.keys; i++) keys.push(args[i]!);
      argv.push(script.index, args.length - script.keys);
      for (let i = script.keys; i < args.length; i++) argv.push(args[i]!);
    }
    const count = keys.length;
    for (const value of argv) keys.push(value);
    this.#eval<unknown[]>(BATCH_SCRIPT, count, keys).then(
      (results) => {
        if (!Array.isArray(results) || results.length !== calls.length) {
          const error = new Error(`the batch script answered ${String(results)} for ${calls.length} calls`);
          for (const call of calls) call.reject(error);
          return;
        }
        calls.forEach((call, i) => {
          const result = results[i];
          // A call's own error reply (say WRONGTYPE) is that call's answer alone.
          if (result instanceof Error) call.reject(result);
          else call.resolve(result);
        });
      },
      (error: unknown) => {
        for (const call of calls) call.reject(error);
      },
    );
  }

  /**
   * Sends one command (ioredis' `Command`). Inside `run`, the commands of one call go out in one
   * socket write, as a pipeline (a write is a system call, which costs more than building
   * several commands). The batch is written before `run` returns, so the connection's order
   * stays the order of sending, also on a client the application shares: nothing else runs in
   * between.
   */
  send<T>(name: string, ...args: (string | number)[]): Promise<T> {
    return this.#sendArgs<T>(name, args);
  }

  #sendArgs<T>(name: string, args: (string | number)[]): Promise<T> {
    const client = this.client;
    if (this.isCluster) return client.call(name, ...args) as Promise<T>;
    const prefix = this.#keyPrefix;
    const command = new Command(name, args, prefix ? { replyEncoding: 'utf8', keyPrefix: prefix } : UTF8);
    if (this.#batch !== undefined) this.#batch.push(command);
    else {
      (client as Redis).sendCommand(command);
      this.#track(command.promise);
    }
    return command.promise as Promise<T>;
  }

  /**
   * Counts `answer` (a command's, or a whole pipeline's) as outstanding on this node until it
   * settles: the stall watch's view of the node, since a node's answers are what settles them.
   */
  #track(answer: Promise<unknown>): void {
    if (!this.#watchStall) return;
    // An idle node's silence counts from its first command.
    if (this.#outstanding++ === 0) this.#progressAt = performance.now();
    // Counted against this connection only: a closed one's commands may never settle (a caller's
    // client options can keep them queued and then drop them), and must not hold the count up.
    const connection = this.#connection;
    answer.then(
      () => {
        if (connection !== this.#connection) return;
        this.#outstanding--;
        this.#progressAt = performance.now();
      },
      (error: unknown) => {
        if (connection !== this.#connection) return;
        this.#outstanding--;
        // An error reply is an answer; a dropped connection or a refused write is not.
        if (isReplyError(error)) this.#progressAt = performance.now();
      },
    );
  }

  /** Runs `command` with a batch open, then writes what it sent. */
  #batched<T>(command: (client: Redis | Cluster) => Promise<T>): Promise<T> {
    if (this.isCluster || this.#batch !== undefined) return command(this.client);
    this.#batch = [];
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
    this.#burstBatch = false;
    this.#flush();
  }

  /**
   * Commands are unanswered (the caller checked) and the node has not answered for `stallMs`:
   * more commands would only queue behind them, each operation then waiting out its node
   * timeout; refused instead, like a node that is down, until it answers.
   */
  #isStalled(): boolean {
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
    const queued = this.#batch;
    this.#batch = undefined;
    if (queued === undefined || queued.length === 0) return;
    const batch = queued.every((entry) => entry instanceof Command) ? queued : this.#commandsOf(queued);
    if (batch.length === 0) return;
    const client = this.client as Redis;
    if (batch.length === 1) {
      client.sendCommand(batch[0]!);
      this.#track(batch[0]!.promise);
      return;
    }
    // One write for all. Each command's own promise carries its answer; the pipeline's result
    // (the same answers) only tells the stall watch that the node answered.
    const pipeline = new Pipeline(client); // what `client.pipeline()` makes, typed as the class
    for (const command of batch) pipeline.sendCommand(command);
    const answered = pipeline.exec();
    if (this.#watchStall) this.#track(answered);
    else answered.catch(() => {});
  }

  /**
   * Coalesces the commands written to this node in one burst of callbacks (many leases'
   * operations resuming on one batch of replies) into as few socket writes as it can without
   * adding latency. The commands of the second and later `run` calls of a burst are written
   * together once the current callbacks and their microtasks are done (`process.nextTick`), on
   * an exclusive connection, their script calls as one command (see `#commandsOf`). The first `run` writes at once (a lone operation, the sequential
   * case, must not wait for the others to be built), unless the last burst had several: then
   * it joins the rest (under load one write per burst costs less than the head start it gives
   * the server).
   */
  #write<T>(command: (client: Redis | Cluster) => Promise<T>): Promise<T> {
    const runs = this.#runs++;
    if (runs === 0) {
      endOfBurst(this.#endBurst);
      if (this.#exclusive && this.#wasBurst) this.#openBurstBatch();
    } else if (runs === 1 && this.#exclusive && !this.#burstBatch) {
      this.#openBurstBatch();
    }
    return this.#batched(command);
  }

  #openBurstBatch(): void {
    this.#batch ??= [];
    this.#burstBatch = true;
  }

  readonly #endBurst = (): void => {
    this.#wasBurst = this.#runs > 1;
    this.#runs = 0;
    if (this.#burstBatch) this.flush();
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

/** Most script calls in one call of `BATCH_SCRIPT` (a longer run is sent as several). */
const MAX_BATCH_CALLS = 256;

/** A script call waiting in a burst's batch (see `#commandsOf`). */
interface Queued {
  readonly script: LuaScript;
  readonly args: (string | number)[];
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
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

function isConnecting(status: string): boolean {
  return status === 'wait' || status === 'connecting' || status === 'connect';
}

function address(options: { host?: string | undefined; port?: number | undefined }): string {
  return `${options.host ?? '127.0.0.1'}:${options.port ?? 6379}`;
}
