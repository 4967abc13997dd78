/**
 * Exponential backoff with jitter. The seed SDK's knobs map directly: `initial`, `max`,
 * `maxJitter`. The nth delay is `base = min(max, initial * 2^n)` minus a random amount up to
 * `min(maxJitter, base)`; with the default `maxJitter` (unbounded) that is full jitter,
 * uniform in `[0, base]`, which spreads contenders best (AWS Architecture Blog, "Exponential
 * Backoff And Jitter").
 */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly maxJitterMs: number;
}

export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 52));
  const jitter = Math.min(policy.maxJitterMs, base) * random();
  return base - jitter;
}
