/**
 * What the worker writes in blob metadata. On the input blob: its state (absent: pending), the
 * number of failed attempts and the last failure's reason; on the output blob: where it came
 * from. Keys are C# identifiers (Azure's rule for metadata names) with an `lkbw_` prefix, so
 * the `leasekit_*` entries the lease store's fencing keeps on the same blob are left alone.
 */
export const MARK = {
  state: 'lkbw_state',
  failures: 'lkbw_failures',
  error: 'lkbw_error',
  worker: 'lkbw_worker',
  fence: 'lkbw_fence',
  output: 'lkbw_output',
  sha256: 'lkbw_sha256',
  source: 'lkbw_source',
  /** Set by `seed`: the transform throws on this blob (a poison item). */
  poison: 'lkbw_poison',
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

export function failuresOf(metadata: Metadata | undefined): number {
  const count = Number(metaValue(metadata, MARK.failures) ?? 0);
  return Number.isInteger(count) && count >= 0 ? count : 0;
}

/** Metadata values travel as HTTP headers: ASCII, no line breaks, and bounded. */
export function headerSafe(text: string, max = 512): string {
  return encodeURIComponent(text.length > max ? `${text.slice(0, max)}…` : text);
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
