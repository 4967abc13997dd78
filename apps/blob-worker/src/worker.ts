/**
 * The worker loop: list the input container, try the pending blobs one by one from a random
 * place in the list (so workers spread out instead of queueing on the same blob), process each
 * one it can lease, and list again until every blob is done or failed. Blobs others hold are
 * polled until their holder finishes or its lease expires (a crashed worker's blob is taken over
 * after the lease's duration). `stop` ends the loop between blobs; the current blob gets
 * `drainMs` to finish, then it is abandoned (its signal aborts, the lease is released).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isLeaseError } from '@leasekit/core';
import type { Emit, Summary } from './events.js';
import type { LeaseProvider } from './leases.js';
import { listPending } from './lister.js';
import { type ProcessorOptions, processBlob } from './processor.js';
import type { Containers } from './storage.js';

export interface WorkerOptions {
  readonly containers: Containers;
  readonly leases: LeaseProvider;
  readonly processor: ProcessorOptions;
  readonly pollMs: number;
  readonly watch: boolean;
  readonly drainMs: number;
  readonly emit: Emit;
  /** Aborted by the first SIGINT/SIGTERM: no new blobs. */
  readonly stop: AbortSignal;
  /** Aborted to give up the current blob at once (a second signal). */
  readonly abandon?: AbortSignal;
}

export class ShutdownError extends Error {
  override readonly name = 'ShutdownError';
  readonly code = 'SHUTDOWN';
}

/** After this many misses in a row (held by others, or done since the listing), list again. */
const MISSES_BEFORE_RELIST = 3;
/** Consecutive errors with no blob processed before the worker gives up. */
const MAX_CONSECUTIVE_ERRORS = 10;

const reasonOf = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

export async function runWorker(options: WorkerOptions): Promise<Summary> {
  const { containers, leases, emit, stop } = options;
  const worker = options.processor.workerId;
  const startedAt = performance.now();
  const counts = { committed: 0, adopted: 0, failed: 0, retried: 0, lost: 0, conflicts: 0, errors: 0 };
  let end: Summary['end'] = 'all-settled';

  // Abandoning the current blob: a second signal, or the drain time after the first.
  const abandoner = new AbortController();
  const abandon = () => abandoner.abort(new ShutdownError(`${worker} is shutting down`));
  options.abandon?.addEventListener('abort', abandon, { once: true });
  let drainTimer: NodeJS.Timeout | undefined;
  stop.addEventListener(
    'abort',
    () => {
      drainTimer = setTimeout(abandon, options.drainMs);
      drainTimer.unref();
    },
    { once: true },
  );

  const pause = (ms: number) => sleep(ms, undefined, { signal: stop }).catch(() => {});
  let consecutiveErrors = 0;

  /** One blob: true when it moved on (processed, failed, counted), false when it was a miss. */
  async function attempt(blob: string): Promise<boolean> {
    let taken = false;
    let fence: number | null = null;
    try {
      const outcome = await leases.hold(
        blob,
        (holding) => {
          taken = true;
          fence = holding.fence ?? null;
          emit({ type: 'taken', worker, blob, fence });
          return processBlob(containers, blob, holding, {
            ...options.processor,
            onProcessing: () => emit({ type: 'processing', worker, blob, fence }),
          });
        },
        abandoner.signal,
      );
      consecutiveErrors = 0;
      if (outcome === 'held') {
        emit({ type: 'held', worker, blob });
        return false;
      }
      switch (outcome.kind) {
        case 'committed':
          counts.committed++;
          emit({
            type: 'committed',
            worker,
            blob,
            fence,
            ms: outcome.manifest.timings.totalMs,
            manifest: outcome.manifest,
          });
          return true;
        case 'adopted':
          counts.adopted++;
          emit({ type: 'adopted', worker, blob, fence, manifest: outcome.manifest });
          return true;
        case 'skipped':
          emit({ type: 'skipped', worker, blob, state: outcome.state });
          return false;
        case 'retry':
          counts.retried++;
          emit({ type: 'retry', worker, blob, failures: outcome.failures, reason: outcome.reason });
          return true;
        case 'failed':
          counts.failed++;
          emit({ type: 'failed', worker, blob, failures: outcome.failures, reason: outcome.reason });
          return true;
        case 'conflict':
          counts.conflicts++;
          emit({ type: 'conflict', worker, blob, reason: outcome.reason });
          return true;
      }
    } catch (error) {
      if (taken && abandoner.signal.aborted) {
        emit({ type: 'abandoned', worker, blob });
        return true;
      }
      if (isLeaseError(error, 'LEASE_LOST') || isLeaseError(error, 'NOT_HOLDER')) {
        counts.lost++;
        emit({ type: 'lost', worker, blob, reason: reasonOf(error) });
        return true;
      }
      counts.errors++;
      consecutiveErrors++;
      emit({ type: 'error', worker, blob, reason: reasonOf(error) });
      if (consecutiveErrors >= MAX_CONSECUTIVE_ERRORS) throw error;
      await pause(Math.min(100 * consecutiveErrors, 1000));
      return true;
    }
  }

  try {
    await containers.output.createIfNotExists();
    while (!stop.aborted) {
      const listing = await listPending(containers.input);
      emit({
        type: 'listed',
        worker,
        pending: listing.pending.length,
        done: listing.done,
        failed: listing.failed,
        total: listing.total,
      });
      if (listing.pending.length === 0) {
        if (!options.watch) break;
        await pause(options.pollMs);
        continue;
      }
      const offset = Math.floor(Math.random() * listing.pending.length);
      let misses = 0;
      let progressed = false;
      for (let i = 0; i < listing.pending.length && !stop.aborted; i++) {
        const blob = listing.pending[(offset + i) % listing.pending.length] as string;
        if (await attempt(blob)) {
          progressed = true;
          misses = 0;
        } else if (++misses >= MISSES_BEFORE_RELIST) {
          break;
        }
      }
      if (!progressed) await pause(options.pollMs);
    }
    if (stop.aborted) end = 'stopped';
  } catch (error) {
    end = 'fatal';
    emit({ type: 'error', worker, blob: null, reason: reasonOf(error) });
  } finally {
    if (drainTimer) clearTimeout(drainTimer);
    options.abandon?.removeEventListener('abort', abandon);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const summary: Summary = {
    ...counts,
    seconds: Math.round(seconds * 100) / 100,
    blobsPerSecond: Math.round(((counts.committed + counts.adopted) / Math.max(seconds, 0.001)) * 10) / 10,
    end,
  };
  emit({ type: 'summary', worker, summary });
  return summary;
}
