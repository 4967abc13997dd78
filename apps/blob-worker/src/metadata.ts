/**
 * What the worker writes in blob metadata. On the input blob: its state (absent: pending), the
 * attempts begun (counted under the lease before the work starts, so that an attempt whose
 * worker died still counts), the attempts that failed in a live worker and the last failure's
 * reason; on the output blob: where it came from. Keys are C# identifiers (Azure's rule for metadata names) with an `lkbw_` prefix, so
 * the `leasekit_*` entries the lease store's fencing keeps on the same blob are left alone.
 */
export const MARK = {
  state: 'lkbw_state',
  /** Attempts begun: written under the lease when an attempt starts, before any processing. */
  attempts: 'lkbw_attempts',
  /** Who began the last attempt: `worker@fence`. */
  began: 'lkbw_began',
  /** Attempts that failed in a live worker (the transform threw); the rest of `attempts` died. */
  failures: 'lkbw_failures',
  error: 'lkbw_error',
  worker: 'lkbw_worker',
  fence: 'lkbw_fence',
  output: 'lkbw_output',
  sha256: 'lkbw_sha256',
  source: 'lkbw_source',
  /** Set by `seed`: the transform throws on this blob (a poison item). */
  poison: 'lkbw_poison',
  /** Set by `seed`: processing this blob kills the worker process (SIGKILL to itself). */
  crash: 'lkbw_crash',
} as const;

export type BlobState = 'pending' | 'done' | 'failed';

type Metadata = Record<string, string>;

/** Azure returns metadata names in the case they were written; look them up without case. */
export function metaValue(metadata: Metadata | undefined, name: string): string | undefined {
  if (!metadata) return undefined;
  const direct = metadata[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(metadata)) if (key.toLowerCase() === name) return value;
  return undefined;
}

export function stateOf(metadata: Metadata | undefined): BlobState {
  const state = metaValue(metadata, MARK.state);
  return state === 'done' || state === 'failed' ? state : 'pending';
}

function countOf(metadata: Metadata | undefined, name: string): number {
  const count = Number(metaValue(metadata, name) ?? 0);
  return Number.isSafeInteger(count) && count >= 0 ? count : 0;
}

export function failuresOf(metadata: Metadata | undefined): number {
  return countOf(metadata, MARK.failures);
}

/** What earlier attempts left on the input blob. */
export interface AttemptHistory {
  /** Attempts begun (at least the failures: blobs marked before attempts were counted have none). */
  readonly attempts: number;
  /** Attempts that failed in a live worker, which recorded why. */
  readonly failures: number;
  /** Attempts begun that recorded no outcome: the worker died (crash, kill, OOM) or lost its lease. */
  readonly died: number;
  /** `worker@fence` of the last attempt begun. */
  readonly lastBegun: string | undefined;
  /** The last recorded failure's reason, decoded. */
  readonly lastError: string | undefined;
}

export function historyOf(metadata: Metadata | undefined): AttemptHistory {
  const failures = failuresOf(metadata);
  const attempts = Math.max(countOf(metadata, MARK.attempts), failures);
  const error = metaValue(metadata, MARK.error);
  return {
    attempts,
    failures,
    died: attempts - failures,
    lastBegun: metaValue(metadata, MARK.began),
    lastError: error === undefined ? undefined : headerText(error),
  };
}

/** Metadata values travel as HTTP headers: ASCII, no line breaks, and bounded. */
export function headerSafe(text: string, max = 512): string {
  return encodeURIComponent(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** Reads back a `headerSafe` value (a value that is not one is returned as it is). */
export function headerText(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The blob's metadata with `changes` applied (`undefined` removes an entry). Setting metadata
 * replaces all of it, so everything else (the lease store's fence, seed markers) is kept.
 */
export function merged(
  metadata: Metadata | undefined,
  changes: Record<string, string | undefined>,
): Metadata {
  const result: Metadata = {};
  const lowered = new Set(Object.keys(changes).map((key) => key.toLowerCase()));
  for (const [key, value] of Object.entries(metadata ?? {}))
    if (!lowered.has(key.toLowerCase())) result[key] = value;
  for (const [key, value] of Object.entries(changes)) if (value !== undefined) result[key] = value;
  return result;
}
