import {
  type AcquireOutcome,
  type AcquireRequest,
  type AnyBackend,
  BackendUnavailableError,
  canRenew,
  type LeaseBackend,
  type LeaseRef,
  type RenewItem,
  type RenewManyOutcome,
  type RenewOutcome,
} from '@leasekit/core';

/** Counts the calls that reach a backend: how the suite proves bad input does no I/O. */
export interface CountingBackend<B extends AnyBackend> {
  readonly backend: B;
  readonly calls: {
    tryAcquire: number;
    renew: number;
    renewMany: number;
    handOver: number;
    release: number;
    inspect: number;
  };
  total(): number;
}

export function countCalls<B extends AnyBackend>(inner: B): CountingBackend<B> {
  const calls = { tryAcquire: 0, renew: 0, renewMany: 0, handOver: 0, release: 0, inspect: 0 };
  const backend = Object.create(inner) as B;
  const slots = backend as unknown as Record<string, unknown>;
  const wrap = (name: keyof typeof calls) => {
    const original = (inner as unknown as Record<string, unknown>)[name];
    if (typeof original !== 'function') return;
    slots[name] = (...args: unknown[]) => {
      calls[name]++;
      return (original as (...a: unknown[]) => unknown).apply(inner, args);
    };
  };
  for (const name of Object.keys(calls) as (keyof typeof calls)[]) wrap(name);
  return { backend, calls, total: () => Object.values(calls).reduce((a, b) => a + b, 0) };
}

export interface FaultSwitch {
  /** While true, renewals fail with a retryable `BackendUnavailableError` before reaching the store. */
  failRenewals: boolean;
  /**
   * While above 0, renewals reach the store at once but their answers are held back this long
   * (a slow network on the way back): a renewal the store applied, answering late.
   */
  delayRenewalAnswersMs: number;
  /** Renewal answers held back so far. */
  delayedAnswers: number;
}

/**
 * Injects transient renewal failures in front of a real backend (the store is untouched): the
 * way to test that a holder whose renewals fail is told before its lease can have expired.
 */
export function withRenewalFaults(inner: LeaseBackend): { backend: LeaseBackend; faults: FaultSwitch } {
  const faults: FaultSwitch = { failRenewals: false, delayRenewalAnswersMs: 0, delayedAnswers: 0 };
  const fault = () =>
    new BackendUnavailableError('injected renewal fault', { backend: inner.name, operation: 'renew' });
  /** The store's answer, held back by `delayRenewalAnswersMs` when set. */
  const late = async <T>(answer: Promise<T>): Promise<T> => {
    const delay = faults.delayRenewalAnswersMs;
    const value = await answer;
    if (delay > 0) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      faults.delayedAnswers++;
    }
    return value;
  };
  const backend: LeaseBackend = {
    name: inner.name,
    capabilities: inner.capabilities,
    tryAcquire: (request: AcquireRequest): Promise<AcquireOutcome> => inner.tryAcquire(request),
    release: (lease: LeaseRef) => inner.release(lease),
    renew: (lease: LeaseRef, ttlMs: number): Promise<RenewOutcome> =>
      faults.failRenewals ? Promise.reject(fault()) : late(inner.renew(lease, ttlMs)),
    close: () => inner.close(),
  };
  if (inner.renewMany) {
    const renewMany = inner.renewMany.bind(inner);
    backend.renewMany = (items: readonly RenewItem[]): Promise<readonly RenewManyOutcome[]> =>
      faults.failRenewals ? Promise.reject(fault()) : late(renewMany(items));
  }
  if (inner.handOver) {
    const handOver = inner.handOver.bind(inner);
    backend.handOver = (lease, ttlMs, fences) =>
      faults.failRenewals ? Promise.reject(fault()) : late(handOver(lease, ttlMs, fences));
  }
  if (inner.inspect) backend.inspect = inner.inspect.bind(inner);
  if (inner.released) backend.released = inner.released.bind(inner);
  if (inner.validateKey) backend.validateKey = inner.validateKey.bind(inner);
  if (!canRenew(inner)) throw new TypeError('withRenewalFaults needs a backend that can renew');
  return { backend, faults };
}
