import { formatMs } from '@leasekit/core';

/** Thrown when an SDK call got no answer within `requestTimeout` (classified as retryable). */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(timeoutMs: number) {
    super(`no answer within requestTimeout (${formatMs(timeoutMs)}); the request may still have landed`);
  }
}

/** Runs one SDK call with an abort signal that fires after `timeoutMs`. */
export type BoundedCall = <T>(run: (abortSignal: AbortSignal) => Promise<T>) => Promise<T>;

/**
 * Bounds SDK calls: each gets its own `AbortController`, aborted after `timeoutMs` and cleared as
 * soon as the call settles (no timer outlives its call, and none keeps the process alive).
 */
export function boundedCalls(timeoutMs: number): BoundedCall {
  return async <T>(run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    timer.unref();
    try {
      return await run(controller.signal);
    } catch (error) {
      if (controller.signal.aborted)
        throw Object.assign(new RequestTimeoutError(timeoutMs), { cause: error });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };
}
