/**
 * A whole load test: read the stock, send the load, read the stock again, check the invariant,
 * and write responses.log. `runLoadtest` is what the CLI runs; it returns the summary.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { checkInvariant, type InvariantVerdict } from './invariant.js';
import type { LatencySummary } from './latency.js';
import type { LoadtestOptions } from './options.js';
import { createProgress } from './progress.js';
import { formatRecord, runLoad } from './run.js';
import { closeTargets, openTargets, readStock } from './targets.js';

export interface LoadtestSummary {
  readonly targets: readonly string[];
  readonly items: readonly string[];
  readonly batches: number;
  readonly concurrency: number;
  readonly requests: number;
  readonly successful: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** Requests answered per second. */
  readonly throughput: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly codes: Readonly<Record<string, number>>;
  readonly instances: Readonly<Record<string, number>>;
  readonly latency: LatencySummary;
  /** undefined with --no-check. */
  readonly invariant: InvariantVerdict | undefined;
  /** Absolute path of responses.log, undefined with --log -. */
  readonly log: string | undefined;
}

export async function runLoadtest(options: LoadtestOptions, signal?: AbortSignal): Promise<LoadtestSummary> {
  const targets = openTargets(options.urls, options.concurrency);
  let log: WriteStream | undefined;
  try {
    const stockOf = async () =>
      new Map(
        await Promise.all(
          options.items.map(
            async (item) => [item, await readStock(targets[0]!, item, options.timeoutMs)] as const,
          ),
        ),
      );
    const initial = options.check ? await stockOf() : undefined;
    const logPath = options.log === undefined ? undefined : resolve(options.log);
    if (logPath !== undefined) {
      log = createWriteStream(logPath);
      await once(log, 'open');
    }
    const progress = createProgress(options);
    const result = await runLoad(
      options,
      targets,
      (record, counts) => {
        log?.write(`${formatRecord(record)}\n`);
        progress.update(counts);
      },
      signal,
    );
    progress.stop(result.counts);
    if (log) {
      log.end();
      await once(log, 'finish');
    }
    const final = options.check ? await stockOf() : undefined;
    const invariant =
      initial && final
        ? checkInvariant(
            options.items.map((item) => {
              const tally = result.counts.items.get(item)!;
              return {
                item,
                initial: initial.get(item)!,
                sold: tally.sold,
                uncertain: tally.uncertain,
                final: final.get(item)!,
              };
            }),
          )
        : undefined;
    const { counts } = result;
    return {
      targets: options.urls,
      items: options.items,
      batches: result.batches,
      concurrency: options.concurrency,
      requests: counts.requests,
      successful: counts.successful,
      failed: counts.failed,
      elapsedMs: Math.round(result.elapsedMs),
      throughput: Math.round((counts.requests / Math.max(0.001, result.elapsedMs / 1000)) * 10) / 10,
      statuses: Object.fromEntries([...counts.statuses].sort(([a], [b]) => a - b)),
      codes: Object.fromEntries([...counts.codes].sort(([a], [b]) => a.localeCompare(b))),
      instances: Object.fromEntries([...counts.instances].sort(([a], [b]) => a.localeCompare(b))),
      latency: result.latency.summary(),
      invariant,
      log: logPath,
    };
  } finally {
    log?.destroy();
    await closeTargets(targets);
  }
}

/** The summary for people. */
export function formatSummary(summary: LoadtestSummary): string {
  const pairs = (record: Readonly<Record<string, number>>) =>
    Object.entries(record)
      .map(([key, value]) => `${key}: ${value}`)
      .join(', ');
  const l = summary.latency;
  const lines = [
    `${summary.requests} requests in ${(summary.elapsedMs / 1000).toFixed(2)} s (${summary.throughput} req/s): ${summary.batches} batches of ${summary.concurrency} to ${summary.targets.join(', ')}`,
    `  successful: ${summary.successful}, failed: ${summary.failed}`,
    `  by status:   ${pairs(Object.fromEntries(Object.entries(summary.statuses).map(([s, n]) => [s === '0' ? 'no answer' : s, n])))}`,
    `  by code:     ${pairs(summary.codes)}`,
    `  by instance: ${pairs(summary.instances)}`,
    `  latency ms:  p50 ${l.p50Ms}, p95 ${l.p95Ms}, p99 ${l.p99Ms}, max ${l.maxMs} (mean ${l.meanMs.toFixed(3)})`,
  ];
  if (summary.log) lines.push(`  one line per request in ${summary.log}`);
  if (summary.invariant === undefined) {
    lines.push('invariant: not checked (--no-check)');
  } else {
    lines.push('invariant: final stock = initial stock - units sold, never below zero');
    for (const item of summary.invariant.items) {
      const uncertain = item.uncertain ? ` (${item.uncertain} more uncertain: no answer or 5xx)` : '';
      lines.push(
        `  ${item.held ? 'ok  ' : 'FAIL'} ${item.item}: initial ${item.initial}, sold ${item.sold}${uncertain}, final ${item.final}, expected ${item.expected}${item.violation ? ` -> ${item.violation}` : ''}`,
      );
    }
    lines.push(
      summary.invariant.held
        ? 'INVARIANT HELD: nothing was oversold'
        : 'INVARIANT VIOLATED: the stock was oversold',
    );
  }
  return lines.join('\n');
}
