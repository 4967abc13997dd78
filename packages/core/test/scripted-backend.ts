import type {
  AcquireOutcome,
  AcquireRequest,
  HandOverOutcome,
  LeaseBackend,
  LeaseRef,
  RenewItem,
  RenewManyOutcome,
  RenewOutcome,
} from '../src/index.js';

/**
 * A programmable SPI double for the orchestrator's unit tests under fake timers: it answers
 * after a set delay with a set outcome and records when each call was made. (Store behaviour
 * is tested for real by the contract suite; this only drives the locker's timing.)
 */
export type Script<T> = T | Error | 'hang' | ((call: number) => T | Error | 'hang');

export class ScriptedBackend implements LeaseBackend {
  readonly name = 'scripted';
  readonly capabilities = { fencing: true, minTtlMs: 1, maxTtlMs: 3_600_000, infiniteTtl: false };
  latencyMs = 0;
  /** Release's own latency, when it differs. */
  releaseLatencyMs: number | undefined;
  acquireScript: Script<AcquireOutcome> = { status: 'acquired', fence: 1 };
  renewScript: Script<RenewOutcome> = { status: 'renewed' };
  releaseScript: Script<boolean> = true;
  readonly calls: {
    op: string;
    at: number;
    key: string;
    token?: string;
    ttlMs?: number;
    batch?: number;
    waitMs?: number | undefined;
    signal?: AbortSignal | undefined;
    fence?: number | undefined;
  }[] = [];
  closed = false;
  renewMany?: (items: readonly RenewItem[]) => Promise<readonly RenewManyOutcome[]>;

  /** Present when constructed with `handOver: true`; answers with `handOverScript`. */
  handOver?: (lease: LeaseRef, ttlMs: number, fences: number) => Promise<HandOverOutcome>;
  handOverScript: Script<HandOverOutcome> = { status: 'renewed' };

  constructor(options: { renewMany?: boolean; handOver?: boolean } = {}) {
    if (options.handOver) {
      this.handOver = (lease, ttlMs, fences) => {
        this.calls.push({ op: 'handOver', at: performance.now(), key: lease.key, ttlMs, batch: fences });
        return this.#answer(this.handOverScript, this.count('handOver'));
      };
    }
    if (options.renewMany) {
      this.renewMany = async (items) => {
        this.calls.push({ op: 'renewMany', at: performance.now(), key: '*', batch: items.length });
        const outcome = await this.#answer(this.renewScript, this.count('renewMany'));
        return items.map(() => outcome);
      };
    }
  }

  count(op: string): number {
    return this.calls.filter((call) => call.op === op).length;
  }

  #answer<T>(script: Script<T>, call: number, latencyMs = this.latencyMs): Promise<T> {
    const value = typeof script === 'function' ? (script as (n: number) => T | Error | 'hang')(call) : script;
    if (value === 'hang') return new Promise<T>(() => {});
    return new Promise<T>((resolve, reject) => {
      const settle = () => (value instanceof Error ? reject(value) : resolve(value));
      if (latencyMs > 0) setTimeout(settle, latencyMs);
      else queueMicrotask(settle);
    });
  }

  tryAcquire(request: AcquireRequest): Promise<AcquireOutcome> {
    this.calls.push({
      op: 'acquire',
      at: performance.now(),
      key: request.key,
      token: request.token,
      ttlMs: request.ttlMs,
      waitMs: request.waitMs,
      signal: request.signal,
    });
    return this.#answer(this.acquireScript, this.count('acquire'));
  }

  renew(lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> {
    this.calls.push({
      op: 'renew',
      at: performance.now(),
      key: lease.key,
      token: lease.token,
      ttlMs,
      fence: lease.fence,
    });
    return this.#answer(this.renewScript, this.count('renew'));
  }

  release(lease: LeaseRef): Promise<boolean> {
    this.calls.push({ op: 'release', at: performance.now(), key: lease.key, token: lease.token });
    return this.#answer(this.releaseScript, this.count('release'), this.releaseLatencyMs);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
