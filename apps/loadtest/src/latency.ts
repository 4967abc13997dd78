/**
 * Latency percentiles from node's built-in HDR histogram (`perf_hooks.createHistogram`),
 * recorded in microseconds: 3 significant figures from 1 µs to an hour, in constant memory.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface LatencySummary {
  readonly count: number;
  readonly minMs: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export class LatencyHistogram {
  readonly #histogram: RecordableHistogram = createHistogram({
    lowest: 1,
    highest: 3_600_000_000,
    figures: 3,
  });

  record(ms: number): void {
    this.#histogram.record(Math.max(1, Math.round(ms * 1_000)));
  }

  summary(): LatencySummary {
    const h = this.#histogram;
    const ms = (us: number) => (h.count === 0 ? 0 : Math.round(us) / 1_000);
    return {
      count: h.count,
      minMs: ms(h.min),
      meanMs: ms(h.mean),
      p50Ms: ms(h.percentile(50)),
      p95Ms: ms(h.percentile(95)),
      p99Ms: ms(h.percentile(99)),
      maxMs: ms(h.max),
    };
  }
}
