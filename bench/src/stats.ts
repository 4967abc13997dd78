/** Statistics and ordering helpers of the harness (pure: unit-tested in test/stats.test.ts). */

/**
 * The `p`-th percentile (0–100) of ascending `sorted` values by the nearest-rank method: the
 * smallest value with at least `p`% of the values at or below it. `NaN` for no values.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100; got ${p}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sorted[rank - 1]!;
}

/** The median of `values` in any order (mean of the two middle values when their count is even); `NaN` for none. */
export function median(values: readonly number[]): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `items` rotated left by `by` places: round `r` of an interleaved run uses `rotate(contenders, r)`. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const shift = ((by % n) + n) % n;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Sorts `samples` in place and summarizes them (same unit as the samples). */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  const count = samples.length;
  let sum = 0;
  for (let i = 0; i < count; i++) sum += samples[i]!;
  return {
    count,
    mean: count === 0 ? Number.NaN : sum / count,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: count === 0 ? Number.NaN : samples[count - 1]!,
  };
}

/** A growable buffer of float samples (operation latencies), cheap to append to in a hot loop. */
export class SampleBuffer {
  #data: Float64Array;
  #length = 0;

  constructor(initialCapacity = 1 << 14) {
    this.#data = new Float64Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#data.length) {
      const grown = new Float64Array(this.#data.length * 2);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data[this.#length++] = value;
  }

  /** A copy of the samples, trimmed to length. */
  toArray(): Float64Array {
    return this.#data.slice(0, this.#length);
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives every contender the same key stream. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `value / reference`, or `NaN` when either is not a positive finite number. */
export function ratio(value: number, reference: number): number {
  if (!(Number.isFinite(value) && Number.isFinite(reference)) || reference <= 0 || value < 0)
    return Number.NaN;
  return value / reference;
}
