import type { AnyBackend } from './backend.js';
import { type Duration, formatMs, toMs } from './duration.js';
import { InvalidArgumentError } from './errors.js';

/** Checks a key before any I/O: a non-empty string within the backend's length limit. */
export function checkKey(backend: AnyBackend, key: unknown, operation: string): string {
  const max = backend.capabilities.maxKeyLength ?? 1024;
  if (typeof key !== 'string' || key.length === 0 || key.length > max) {
    throw new InvalidArgumentError(
      `key must be a non-empty string of at most ${max} characters; got ${
        typeof key === 'string' ? `${key.length} characters` : typeof key
      }`,
      { backend: backend.name, operation },
    );
  }
  backend.validateKey?.(key, operation);
  return key;
}

/** Checks a holding's token before any I/O: a non-empty string of at most 256 characters. */
export function checkToken(backend: AnyBackend, token: unknown, operation: string): string {
  if (typeof token !== 'string' || token.length === 0 || token.length > 256) {
    throw new InvalidArgumentError(
      `token must be a non-empty string of at most 256 characters; got ${
        typeof token === 'string' ? `${token.length} characters` : typeof token
      }`,
      { backend: backend.name, operation },
    );
  }
  return token;
}

/** Resolves and range-checks a TTL against the backend's capabilities. */
export function checkTtl(backend: AnyBackend, ttl: Duration | undefined, operation: string): number {
  const caps = backend.capabilities;
  const options = { backend: backend.name, operation };
  const ms = toMs(ttl, 'ttl', { allowInfinite: caps.infiniteTtl, error: options });
  if (ms === Infinity) return ms;
  const step = caps.ttlGranularityMs ?? 1;
  if (ms >= caps.minTtlMs && ms <= caps.maxTtlMs && ms % step === 0) return ms;
  // Built only for the error: a TTL passed on every acquire is checked on the hot path.
  const range = `${formatMs(caps.minTtlMs)} to ${formatMs(caps.maxTtlMs)}${caps.infiniteTtl ? ' (or Infinity)' : ''}`;
  if (ms < caps.minTtlMs || ms > caps.maxTtlMs) {
    throw new InvalidArgumentError(
      `ttl must be ${range} for the ${backend.name} backend; got ${formatMs(ms)}`,
      options,
    );
  }
  throw new InvalidArgumentError(
    `ttl must be a whole multiple of ${formatMs(step)} for the ${backend.name} backend (${range}); got ${formatMs(ms)}`,
    options,
  );
}

export function checkDuration(
  backend: AnyBackend,
  value: Duration | undefined,
  what: string,
  operation: string,
  allowInfinite = false,
): number {
  return toMs(value, what, { allowInfinite, error: { backend: backend.name, operation } });
}

export function checkFraction(value: unknown, what: string, low: number, high: number): number {
  if (typeof value !== 'number' || !(value > low && value < high)) {
    throw new InvalidArgumentError(
      `${what} must be a number between ${low} and ${high} (exclusive); got ${String(value)}`,
      {
        operation: 'configure',
      },
    );
  }
  return value;
}

export function checkSignal(value: unknown, operation: string): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new InvalidArgumentError(`signal must be an AbortSignal; got ${typeof value}`, { operation });
}

/** A whole number of times, from 0 to `max`. */
export function checkCount(value: unknown, what: string, operation: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`${what} must be a whole number from 0 to ${max}; got ${String(value)}`, {
      operation,
    });
  }
  return value;
}

/** The locker's `lossMargin`: a duration above 0 (a margin of 0 declares loss only once the lease may be gone). */
export function checkLossMargin(backend: AnyBackend, value: Duration): number {
  const ms = checkDuration(backend, value, 'lossMargin', 'configure');
  if (ms <= 0) {
    throw new InvalidArgumentError(
      `lossMargin must be more than 0 (loss must be declared before the lease can have expired); got ${formatMs(ms)}`,
      { backend: backend.name, operation: 'configure' },
    );
  }
  return ms;
}
