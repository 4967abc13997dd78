import { type Duration, InvalidArgumentError, toMs } from '@leasekit/core';

/** Longest a request may wait for a held key on the server. */
export const MAX_WAIT_MS = 30_000;
/** TTL of an acquire or renew that names none. */
export const DEFAULT_TTL_MS = 30_000;

/**
 * The request schema's duration strings (`"250ms"`, `"30s"`, `"2m"`, `"1h"`, decimals allowed):
 * bounded, so what passes is always a number core's `toMs` reads.
 */
export const DURATION_PATTERN = '^\\d{1,12}(\\.\\d{1,6})?(ms|s|m|h)$';

/**
 * A request's duration (the schema already checked its shape): whole milliseconds, or a string
 * such as `"250ms"`, `"30s"`, `"2m"`, `"1h"` read by core's `toMs` and rounded up to whole
 * milliseconds. Anything else is an `InvalidArgumentError` naming `what` and what is allowed.
 */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(
      `${what} must be whole milliseconds or a string like "250ms", "30s", "2m", "1h"; got ${value}`,
      { operation: 'request' },
    );
  }
  return Math.ceil(toMs(value as Duration, what, { error: { operation: 'request' } }));
}

const goUnitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};
const goDurationPattern = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)/;

/**
 * Go's `time.ParseDuration` for the seed's routes (core's `toMs` reads no compound or
 * sub-millisecond units) (`"10s"`, `"50ms"`, `"1m30s"`, `"1.5h"`, `"0"`),
 * in milliseconds; `undefined` when malformed or negative (a TTL cannot be).
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text.length === 0 || text.length > 64) return undefined;
  let rest = text.startsWith('+') ? text.slice(1) : text;
  if (rest.length === 0) return undefined;
  let total = 0;
  while (rest.length > 0) {
    const match = goDurationPattern.exec(rest);
    if (!match) return undefined;
    const part = match[0];
    const unit = /(ns|us|µs|μs|ms|s|m|h)$/.exec(part)![1]!;
    total += Number(part.slice(0, part.length - unit.length)) * goUnitMs[unit]!;
    rest = rest.slice(part.length);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Go's `time.Duration.String()` for whole or fractional milliseconds: `"10s"`, `"1m30s"`, `"50ms"`, `"0s"`. */
export function formatGoDuration(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1_000) return `${trim(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1_000;
  const secondsText = `${trim(seconds)}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}

function trim(value: number): string {
  return String(Number(value.toFixed(6)));
}
