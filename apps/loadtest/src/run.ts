/**
 * The load itself: batches of `concurrency` orders sent at once (each batch waits for all its
 * answers, then pauses), round robin over the targets and items. Every answer is counted, timed
 * and handed to `onResponse`; nothing per request is kept in memory.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyHistogram } from './latency.js';
import type { LoadtestOptions } from './options.js';
import type { Target } from './targets.js';

export interface ResponseRecord {
  /** Epoch ms when the request was sent. */
  readonly time: number;
  /** HTTP status; 0 when no answer came (connection failed, timeout). */
  readonly status: number;
  readonly latencyMs: number;
  /** The answering instance (the body's `instance`), '-' when unknown. */
  readonly instance: string;
  /** The body's `code` (ORDER_PLACED, INSUFFICIENT_STOCK, ...), or the client error's code. */
  readonly code: string;
  readonly item: string;
  readonly quantity: number;
  readonly target: string;
  readonly requestId: string;
}

export interface Counts {
  requests: number;
  successful: number;
  failed: number;
  readonly statuses: Map<number, number>;
  readonly codes: Map<string, number>;
  readonly instances: Map<string, number>;
  /** Per item: units confirmed sold, and units whose outcome is unknown. */
  readonly items: Map<string, { ordered: number; sold: number; uncertain: number }>;
}

export interface RunResult {
  readonly counts: Counts;
  readonly latency: LatencyHistogram;
  readonly elapsedMs: number;
  readonly batches: number;
}

/** A response whose outcome is unknown: no answer, or a server error that may have come after the write. */
export function isUncertain(status: number): boolean {
  return status === 0 || status >= 500;
}

export async function runLoad(
  options: LoadtestOptions,
  targets: readonly Target[],
  onResponse: (record: ResponseRecord, counts: Counts) => void = () => {},
  signal?: AbortSignal,
): Promise<RunResult> {
  const counts: Counts = {
    requests: 0,
    successful: 0,
    failed: 0,
    statuses: new Map(),
    codes: new Map(),
    instances: new Map(),
    items: new Map(options.items.map((item) => [item, { ordered: 0, sold: 0, uncertain: 0 }])),
  };
  const latency = new LatencyHistogram();
  const run = randomBytes(4).toString('hex');
  const bump = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  let sequence = 0;

  const send = async (): Promise<void> => {
    const n = sequence++;
    const target = targets[n % targets.length]!;
    // The item moves on once per pass over the targets, so every item reaches every target
    // (\`n % items\` would send each of 2 items to only one of 2 instances: no contention between them).
    const item = options.items[Math.floor(n / targets.length) % options.items.length]!;
    const requestId = `lt-${run}-${n}`;
    const time = Date.now();
    const started = performance.now();
    let status = 0;
    let body: { instance?: unknown; code?: unknown } = {};
    let errorCode: string | undefined;
    try {
      const response = await target.pool.request({
        method: 'POST',
        path: `${target.prefix}/order`,
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: JSON.stringify({ item_name: item, quantity: options.quantity }),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      status = response.statusCode;
      const text = await response.body.text();
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        errorCode = 'NOT_JSON';
      }
    } catch (error) {
      status = 0;
      errorCode = String((error as { code?: unknown }).code ?? 'REQUEST_FAILED');
    }
    const latencyMs = performance.now() - started;
    const record: ResponseRecord = {
      time,
      status,
      latencyMs,
      instance: typeof body.instance === 'string' ? body.instance : '-',
      code: typeof body.code === 'string' ? body.code : (errorCode ?? '-'),
      item,
      quantity: options.quantity,
      target: target.url,
      requestId,
    };
    counts.requests++;
    if (status === 200) counts.successful++;
    else counts.failed++;
    bump(counts.statuses, status);
    bump(counts.codes, record.code);
    bump(counts.instances, record.instance);
    const tally = counts.items.get(item)!;
    tally.ordered += options.quantity;
    if (status === 200) tally.sold += options.quantity;
    else if (isUncertain(status)) tally.uncertain += options.quantity;
    latency.record(latencyMs);
    onResponse(record, counts);
  };

  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let batches = 0;
  while (batches < options.batches && !signal?.aborted) {
    if (options.durationMs !== undefined && elapsed() >= options.durationMs) break;
    batches++;
    await Promise.all(Array.from({ length: options.concurrency }, send));
    if (batches < options.batches && options.pauseMs > 0) await sleep(options.pauseMs);
  }
  return { counts, latency, elapsedMs: elapsed(), batches };
}

/** One line of responses.log: `time status latency_ms instance code item request_id target`. */
export function formatRecord(record: ResponseRecord): string {
  return [
    new Date(record.time).toISOString(),
    `status=${record.status}`,
    `latency_ms=${record.latencyMs.toFixed(3)}`,
    `instance=${record.instance}`,
    `code=${record.code}`,
    `item=${record.item}`,
    `quantity=${record.quantity}`,
    `request_id=${record.requestId}`,
    `target=${record.target}`,
  ].join(' ');
}

/** Reads a responses.log line back (for tests and tools). */
export function parseRecord(line: string): Record<string, string> & { time: string } {
  const [time, ...fields] = line.split(' ');
  return Object.assign(
    { time: time ?? '' },
    Object.fromEntries(
      fields.map((field) => [field.slice(0, field.indexOf('=')), field.slice(field.indexOf('=') + 1)]),
    ),
  );
}
