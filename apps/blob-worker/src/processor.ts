/**
 * One work item: count the attempt on the input blob, download it, stream it through the
 * transform into the output container, commit the output and its manifest, and mark the input
 * done. Every step takes the holding's signal, so a lost lease stops the download, the transform
 * and the staging at once; nothing is visible until the commit, whose `If-None-Match: *` a second
 * writer cannot meet, and the input's marks are written with the lease ID (Azure work-item mode)
 * or `If-Match` the ETag read under the lock (Redis/DynamoDB), so a stale holder cannot mark the
 * blob either.
 *
 * Attempts are bounded: each is counted on the input, under the lease, before its work starts, so
 * an attempt whose worker dies (a crash, SIGKILL, the OOM killer) or loses its lease still counts;
 * the holder that finds the bound reached marks the blob failed with the reason instead of
 * processing it again. An attempt given up on shutdown is given back.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobDownloadResponseParsed } from '@azure/storage-blob';
import { isLeaseError } from '@leasekit/core';
import { BlockCommitter, isStatus, OutputExistsError } from './committer.js';
import type { TransformName } from './config.js';
import { InputMarks } from './input-marks.js';
import { type AttemptHistory, headerSafe, historyOf, MARK, metaValue, stateOf } from './metadata.js';
import { type Containers, outputNames } from './storage.js';
import { crash, createTransform, EXTENSIONS, pace, poison } from './transform.js';

/** What the lease gives the processor. */
export interface Holding {
  /** The Azure lease ID on the input blob itself (work-item mode): the input's writes carry it. */
  readonly leaseId: string | undefined;
  readonly fence: number | undefined;
  /** Aborts when the lease is lost, or when the worker abandons the blob on shutdown. */
  readonly signal: AbortSignal;
}

export interface ProcessorOptions {
  readonly workerId: string;
  readonly transform: TransformName;
  readonly maxAttempts: number;
  readonly paceMs: number;
  /** Written into the manifest: what protected this run (`azure`, `redis`, `dynamodb`, `none`). */
  readonly lock: string;
  /** Called (and awaited) once the attempt is counted under the holding: the work begins. */
  readonly onProcessing?: (blob: string) => void | Promise<void>;
}

export interface Manifest {
  readonly version: 1;
  readonly input: {
    readonly container: string;
    readonly name: string;
    readonly bytes: number;
    readonly sha256: string;
    readonly etag: string | undefined;
  };
  readonly output: {
    readonly container: string;
    readonly name: string;
    readonly bytes: number;
    readonly sha256: string;
  };
  readonly transform: TransformName;
  /** The worker that committed the output, or that adopted it (see `adoptedFrom`). */
  readonly worker: string;
  readonly fence: number | null;
  readonly lock: string;
  readonly attempt: number;
  /**
   * Only on an adopted output: the holder that committed it and died before marking the input
   * (from the output's metadata). `worker` and `fence` are then the adopting holder's.
   */
  readonly adoptedFrom?: { readonly worker: string; readonly fence: number | null };
  readonly timings: {
    readonly startedAt: string;
    readonly processMs: number;
    readonly commitMs: number;
    readonly totalMs: number;
  };
}

export type Outcome =
  | { readonly kind: 'committed'; readonly manifest: Manifest }
  /** The output existed with the same content (a holder died between commit and marking done): marked done. */
  | { readonly kind: 'adopted'; readonly output: string; readonly manifest: Manifest }
  /** Done or failed already (seen under the lease). */
  | { readonly kind: 'skipped'; readonly state: 'done' | 'failed' }
  | { readonly kind: 'retry'; readonly failures: number; readonly reason: string }
  | { readonly kind: 'failed'; readonly failures: number; readonly reason: string }
  /** Without a lease: someone else committed or marked it first (only the control run sees this). */
  | { readonly kind: 'conflict'; readonly reason: string };

/** Counts and hashes what flows through. */
class Tap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** The transform for this blob: the configured one, unless `seed` marked it poison or crashing. */
function transformFor(
  name: string,
  metadata: Readonly<Record<string, string>>,
  transform: TransformName,
): NodeJS.ReadWriteStream {
  if (metaValue(metadata, MARK.crash)) return crash();
  if (metaValue(metadata, MARK.poison)) return poison(name);
  return createTransform(transform);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Processes `name` under `holding`. Rejects with the signal's reason (the `LeaseLostError`, or the
 * worker's shutdown) when the signal aborted, whichever SDK call or stream noticed it first.
 */
export async function processBlob(
  containers: Containers,
  name: string,
  holding: Holding,
  options: ProcessorOptions,
): Promise<Outcome> {
  const begun: Begun = { giveBack: undefined };
  try {
    return await processUnderHolding(containers, name, holding, options, begun);
  } catch (error) {
    if (holding.signal.aborted) {
      // Given up by this worker (shutdown), not lost: the attempt is not the blob's fault. A lost
      // lease cannot write any more, and counts (see `historyOf`).
      if (begun.giveBack && !isLeaseError(holding.signal.reason)) await begun.giveBack().catch(() => {});
      throw holding.signal.reason;
    }
    throw error;
  }
}

/** Set while an attempt's transform runs: undoes its count (nothing else was written since). */
interface Begun {
  giveBack: (() => Promise<void>) | undefined;
}

/** How long giving an attempt back may hold up a shutdown. */
const GIVE_BACK_MS = 2000;

/** Why a blob whose attempts ran out is marked failed (stored on it, shown by the view). */
function exhaustedReason(history: AttemptHistory): string {
  const parts: string[] = [];
  if (history.died > 0) {
    parts.push(
      `the worker died ${history.died} time${history.died === 1 ? '' : 's'} while processing it (an attempt began and recorded no outcome: a crash, a kill, the OOM killer or a lost lease)${history.lastBegun ? `; the last attempt by ${history.lastBegun}` : ''}`,
    );
  }
  if (history.failures > 0) {
    parts.push(
      `${history.failures} failed${history.lastError ? `, the last with ${history.lastError}` : ''}`,
    );
  }
  return parts.join('; ');
}

async function processUnderHolding(
  containers: Containers,
  name: string,
  holding: Holding,
  options: ProcessorOptions,
  begun: Begun,
): Promise<Outcome> {
  const { signal } = holding;
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const input = containers.input.getBlobClient(name);
  const names = outputNames(name, EXTENSIONS[options.transform]);
  const outputBlob = containers.output.getBlockBlobClient(names.data);
  const marks = await InputMarks.read(input, holding.leaseId, signal);
  const state = stateOf(marks.metadata);
  if (state !== 'pending') return { kind: 'skipped', state };
  /** A mark that a stale holder cannot write: 412 means another run (no lease) or holder got there. */
  const mark = async (
    changes: Record<string, string | undefined>,
    conflict: string,
  ): Promise<{ readonly kind: 'conflict'; readonly reason: string } | undefined> => {
    try {
      await marks.write(changes, signal);
      return undefined;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (isStatus(error, 412)) return { kind: 'conflict', reason: `${conflict}: ${reasonOf(error)}` };
      throw error;
    }
  };

  const history = historyOf(marks.metadata);
  if (history.attempts >= options.maxAttempts) {
    // Unless the last attempt committed the output and died before marking the input done: one
    // more attempt adopts that output (bounded: only right at the bound).
    const committedBeforeDying =
      history.attempts === options.maxAttempts &&
      history.died > 0 &&
      (await outputBlob.exists({ abortSignal: signal }));
    if (!committedBeforeDying) {
      const reason = exhaustedReason(history);
      const conflict = await mark(
        { [MARK.state]: 'failed', [MARK.error]: headerSafe(reason) },
        'could not mark it failed',
      );
      return conflict ?? { kind: 'failed', failures: history.attempts, reason };
    }
  }
  // Counted before any work, under the lease: if this worker dies, the next holder sees it.
  const attempt = history.attempts + 1;
  const fence = holding.fence ?? null;
  const previous = { [MARK.attempts]: String(history.attempts), [MARK.began]: history.lastBegun };
  const notBegun = await mark(
    { [MARK.attempts]: String(attempt), [MARK.began]: `${options.workerId}@${fence ?? '-'}` },
    'could not count the attempt',
  );
  if (notBegun) return notBegun;
  begun.giveBack = () => marks.write(previous, AbortSignal.timeout(GIVE_BACK_MS));

  await options.onProcessing?.(name);
  const tapIn = new Tap();
  const tapOut = new Tap();
  const committer = new BlockCommitter(outputBlob, signal);
  let download: BlobDownloadResponseParsed | undefined;
  try {
    // The version just marked, and nothing else (also what the SDK resumes a broken download from).
    download = await input.download(0, undefined, { abortSignal: signal, conditions: marks.readConditions });
    const body = download.readableStreamBody;
    if (!body) throw new Error(`${name}: the download has no body`);
    const stages: NodeJS.ReadWriteStream[] = [tapIn, transformFor(name, marks.metadata, options.transform)];
    if (options.paceMs > 0) stages.push(pace(options.paceMs, signal));
    await pipeline([body, ...stages, tapOut, committer], { signal });
  } catch (error) {
    // A lost lease is not the blob's fault as such: no failure is recorded (the holder cannot
    // write any more), the attempt counts as one that recorded no outcome. The download (or its
    // resumption) carries the lease ID, so Azure may tell of the loss before the renewal does.
    if (signal.aborted) throw signal.reason;
    const lost = marks.lostLease(error, 'read');
    if (lost) throw lost;
    begun.giveBack = undefined;
    const reason = reasonOf(error);
    const failed = attempt >= options.maxAttempts;
    const conflict = await mark(
      {
        [MARK.failures]: String(history.failures + 1),
        [MARK.error]: headerSafe(reason),
        [MARK.state]: failed ? 'failed' : undefined,
      },
      'could not record the failure',
    );
    return conflict ?? { kind: failed ? 'failed' : 'retry', failures: attempt, reason };
  }
  // From here on the input is written again: an abort no longer gives the attempt back.
  begun.giveBack = undefined;
  const processed = performance.now();
  const inputEtag = download.etag;
  const sha256 = tapOut.digest();
  const outputMetadata = {
    [MARK.source]: headerSafe(name),
    [MARK.sha256]: sha256,
    [MARK.worker]: options.workerId,
    [MARK.fence]: String(fence ?? ''),
  };
  const doneMarks = {
    [MARK.state]: 'done',
    [MARK.worker]: options.workerId,
    [MARK.fence]: String(fence ?? ''),
    [MARK.output]: headerSafe(names.data),
    [MARK.error]: undefined,
  };
  try {
    await committer.commit(
      outputMetadata,
      options.transform === 'gzip' ? 'application/gzip' : 'application/octet-stream',
    );
  } catch (error) {
    if (!(error instanceof OutputExistsError)) throw error;
    // Committed before by a holder that died before marking the input: the same bytes are the
    // same result, so the input is marked done without a second output.
    const existing = await outputBlob.getProperties({ abortSignal: signal });
    if (metaValue(existing.metadata, MARK.sha256) !== sha256) {
      return { kind: 'conflict', reason: `${names.data} exists with other content` };
    }
    const originalWorker = metaValue(existing.metadata, MARK.worker) ?? 'unknown';
    const originalFence = Number(metaValue(existing.metadata, MARK.fence) || Number.NaN);
    // The dead holder may have died before writing its manifest: every committed output gets one.
    const manifest = manifestOf(performance.now(), {
      adoptedFrom: {
        worker: originalWorker,
        fence: Number.isSafeInteger(originalFence) ? originalFence : null,
      },
    });
    await writeManifest(containers, names.manifest, manifest, signal);
    const conflict = await mark(
      { ...doneMarks, [MARK.worker]: originalWorker },
      `${names.data} committed and marked by another run`,
    );
    return conflict ?? { kind: 'adopted', output: names.data, manifest };
  }
  const manifest = manifestOf(performance.now());
  await writeManifest(containers, names.manifest, manifest, signal);
  const conflict = await mark(doneMarks, `${name} was marked by another run`);
  return conflict ?? { kind: 'committed', manifest };

  function manifestOf(committed: number, extra: Pick<Manifest, 'adoptedFrom'> = {}): Manifest {
    return {
      version: 1,
      input: {
        container: containers.input.containerName,
        name,
        bytes: tapIn.bytes,
        sha256: tapIn.digest(),
        etag: inputEtag,
      },
      output: { container: containers.output.containerName, name: names.data, bytes: tapOut.bytes, sha256 },
      transform: options.transform,
      worker: options.workerId,
      fence,
      lock: options.lock,
      attempt,
      timings: {
        startedAt,
        processMs: Math.round(processed - started),
        commitMs: Math.round(committed - processed),
        totalMs: Math.round(committed - started),
      },
      ...extra,
    };
  }
}

/**
 * The output's manifest, written once beside it (`If-None-Match: *`): a manifest already there
 * (the committing holder wrote it before it died) is kept.
 */
async function writeManifest(
  containers: Containers,
  name: string,
  manifest: Manifest,
  signal: AbortSignal,
): Promise<void> {
  const text = JSON.stringify(manifest, null, 2);
  await containers.output
    .getBlockBlobClient(name)
    .upload(text, Buffer.byteLength(text), {
      abortSignal: signal,
      conditions: { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'application/json' },
    })
    .catch((error: unknown) => {
      if (!isStatus(error, 409)) throw error;
    });
}
