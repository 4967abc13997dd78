import { InvalidArgumentError, type LeaseErrorOptions } from './errors.js';

/** Milliseconds, or a string such as `'250ms'`, `'30s'`, `'2m'`, `'1h'`, `'1.5s'`. */
export type Duration = number | `${number}${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h';

const unitMs: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const pattern = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/;

/**
 * Parses a duration to milliseconds. `Infinity` is returned only when `allowInfinite` is set;
 * otherwise it, negatives, NaN and malformed strings are an `InvalidArgumentError` naming `what`.
 */
export function toMs(
  value: Duration | undefined,
  what: string,
  options: { allowInfinite?: boolean; error?: LeaseErrorOptions } = {},
): number {
  const errorOptions = options.error ?? { operation: 'configure' };
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = pattern.exec(value);
    if (!match) {
      throw new InvalidArgumentError(
        `${what} must be milliseconds or a string like '250ms', '30s', '2m', '1h'; got ${JSON.stringify(value)}`,
        errorOptions,
      );
    }
    ms = Number(match[1]) * unitMs[match[2] as DurationUnit];
  } else {
    throw new InvalidArgumentError(
      `${what} must be milliseconds or a duration string like '30s'; got ${typeof value}`,
      errorOptions,
    );
  }
  if (Number.isNaN(ms) || ms < 0 || (ms === Infinity && !options.allowInfinite)) {
    throw new InvalidArgumentError(
      `${what} must be a finite duration >= 0${options.allowInfinite ? ' (or Infinity)' : ''}; got ${String(value)}`,
      errorOptions,
    );
  }
  return ms;
}

/** `1500` → `'1.5s'`: for messages. */
export function formatMs(ms: number): string {
  if (ms === Infinity) return 'infinite';
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1_000) return `${+(ms / 1_000).toFixed(3)}s`;
  return `${+ms.toFixed(3)}ms`;
}
