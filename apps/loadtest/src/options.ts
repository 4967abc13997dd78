/** The command line of `leasekit-loadtest`: every option with its default, parsed and checked. */
import { parseArgs } from 'node:util';

export interface LoadtestOptions {
  /** Order-service base URLs; requests go round robin over them. */
  readonly urls: readonly string[];
  /** Batches to send; Infinity with `--duration` alone. */
  readonly batches: number;
  /** Requests sent at once in each batch. */
  readonly concurrency: number;
  readonly items: readonly string[];
  readonly quantity: number;
  /** Pause between batches. */
  readonly pauseMs: number;
  /** Stop starting batches after this long; undefined: run every batch. */
  readonly durationMs: number | undefined;
  /** Per-request timeout. */
  readonly timeoutMs: number;
  /** Where to write one line per request; undefined: nowhere. */
  readonly log: string | undefined;
  readonly json: boolean;
  /** Read stock before and after and check the invariant. */
  readonly check: boolean;
  /** Progress on stderr: a bar on a terminal, lines otherwise, or none. */
  readonly progress: 'auto' | 'bar' | 'lines' | 'none';
}

export const DEFAULTS = {
  url: 'http://127.0.0.1:9090',
  batches: 200,
  concurrency: 20,
  items: 'item1',
  quantity: 1,
  pause: '0.1s',
  timeout: '10s',
  log: 'responses.log',
  progress: 'auto',
} as const;

export const USAGE: string = `usage: leasekit-loadtest [options]

Sends batches of truly concurrent orders (POST /order) to one or several order-service URLs
(round robin), then checks for each item that final stock = initial stock - quantity sold and
that it never went below zero. Exits 1 when that invariant does not hold.

  --url URL           order-service URL; repeat or comma-separate for several (default ${DEFAULTS.url})
  --batches N         batches to send (default ${DEFAULTS.batches}; unlimited with --duration alone)
  --concurrency N     requests sent at once in each batch (default ${DEFAULTS.concurrency})
  --items LIST        comma-separated item names, used round robin (default ${DEFAULTS.items})
  --quantity N        units per order (default ${DEFAULTS.quantity})
  --pause DURATION    pause between batches: 0.1s, 100ms, or seconds as a number (default ${DEFAULTS.pause})
  --duration DURATION stop starting batches after this long (default: none)
  --timeout DURATION  per-request timeout (default ${DEFAULTS.timeout})
  --log PATH          one line per request; "-" for none (default ${DEFAULTS.log})
  --json              print the summary as JSON on stdout
  --no-check          skip the stock invariant check
  --progress MODE     auto (a bar on a terminal, lines otherwise), bar, lines or none (default ${DEFAULTS.progress})
  --help              this text

exit status: 0 the invariant held (or was not checked), 1 it did not, 2 bad options, 3 the run failed`;

/** A bad command line: the message names the option and what it allows. */
export class UsageError extends Error {
  readonly code = 'INVALID_ARGUMENT';
}

/** `100ms`, `0.1s`, `2m`, or a plain number of seconds (the seed's `sleep 0.1`). */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match)
    throw new UsageError(
      `--${option} ${JSON.stringify(value)}: a duration such as 100ms, 0.1s, 2m or 0.1 (seconds)`,
    );
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(amount * (unit === 'ms' ? 1 : unit === 's' ? 1_000 : 60_000));
}

function parseCount(value: string, option: string, max: number): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > max) {
    throw new UsageError(`--${option} ${JSON.stringify(value)}: an integer from 1 to ${max}`);
  }
  return number;
}

/** Parses argv (without node and the script); `'help'` when --help was asked for. */
export function parseOptions(argv: readonly string[]): LoadtestOptions | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${USAGE}`);
  }
  const { values } = parsed;
  if (values.help) return 'help';

  const urls = (values.url ?? [DEFAULTS.url])
    .flatMap((value) => value.split(','))
    .map((value) => value.trim());
  for (const url of urls) {
    let protocol: string | undefined;
    try {
      protocol = new URL(url).protocol;
    } catch {}
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new UsageError(`--url ${JSON.stringify(url)}: an http:// or https:// URL`);
    }
  }
  const items = (values.items ?? DEFAULTS.items).split(',').map((item) => item.trim());
  for (const item of items) {
    if (!/^[A-Za-z0-9._~-]{1,100}$/.test(item)) {
      throw new UsageError(
        `--items: ${JSON.stringify(item)} is not an item name (1-100 of A-Z a-z 0-9 . _ ~ -)`,
      );
    }
  }
  const progress = values.progress ?? DEFAULTS.progress;
  if (progress !== 'auto' && progress !== 'bar' && progress !== 'lines' && progress !== 'none') {
    throw new UsageError(`--progress ${JSON.stringify(progress)}: auto, bar, lines or none`);
  }
  const durationMs = values.duration === undefined ? undefined : parseDuration(values.duration, 'duration');
  if (durationMs === 0) throw new UsageError('--duration: more than 0');
  const log = values.log ?? DEFAULTS.log;
  return {
    urls,
    batches:
      values.batches !== undefined
        ? parseCount(values.batches, 'batches', 10_000_000)
        : durationMs !== undefined
          ? Number.POSITIVE_INFINITY
          : DEFAULTS.batches,
    concurrency: parseCount(values.concurrency ?? String(DEFAULTS.concurrency), 'concurrency', 10_000),
    items,
    quantity: parseCount(values.quantity ?? String(DEFAULTS.quantity), 'quantity', 1_000_000),
    pauseMs: parseDuration(values.pause ?? DEFAULTS.pause, 'pause'),
    durationMs,
    timeoutMs: Math.max(1, parseDuration(values.timeout ?? DEFAULTS.timeout, 'timeout')),
    log: log === '-' || log === '' ? undefined : log,
    json: values.json ?? false,
    check: !(values['no-check'] ?? false),
    progress,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string', multiple: true },
      batches: { type: 'string' },
      concurrency: { type: 'string' },
      items: { type: 'string' },
      quantity: { type: 'string' },
      pause: { type: 'string' },
      duration: { type: 'string' },
      timeout: { type: 'string' },
      log: { type: 'string' },
      json: { type: 'boolean' },
      'no-check': { type: 'boolean' },
      progress: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
