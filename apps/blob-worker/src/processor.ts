/**
 * One work item: download the input blob, stream it through the transform into the output
 * container, commit the output and its manifest, and mark the input done. Every step takes the
 * holding's signal, so a lost lease stops the download, the transform and the staging at once;
 * nothing is visible until the commit, whose `If-None-Match: *` a second writer cannot meet, and
 * the input's marks are written with the lease ID (Azure work-item mode) or `If-Match` the ETag
 * read under the lock (Redis/DynamoDB), so a stale holder cannot mark the blob either.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobDownloadResponseParsed } from '@azure/storage-blob';
import { BlockCommitter, isStatus, OutputExistsError } from './committer.js';
import type { TransformName } from './config.js';
import { failuresOf, headerSafe, MARK, merged, metaValue, stateOf } from './metadata.js';
import { type Containers, outputNames } from './storage.js';
import { createTransform, EXTENSIONS, pace, poison } from './transform.js';

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
  /** Called once the input is read under the holding and found pending: the work begins. */
  readonly onProcessing?: (blob: string) => void;
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
  try {
    return await processUnderHolding(containers, name, holding, options);
  } catch (error) {
    if (holding.signal.aborted) throw holding.signal.reason;
    throw error;
  }
}

async function processUnderHolding(
  containers: Containers,
  name: string,
  holding: Holding,
  options: ProcessorOptions,
): Promise<Outcome> {
  const { signal } = holding;
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const input = containers.input.getBlobClient(name);
  // Reading with the lease ID is the first check that the lease is still ours.
  const inputConditions = holding.leaseId ? { leaseId: holding.leaseId } : undefined;
  const download: BlobDownloadResponseParsed = await input.download(0, undefined, {
    abortSignal: signal,
    ...(inputConditions ? { conditions: inputConditions } : {}),
  });
  const metadata = download.metadata ?? {};
  const body = download.readableStreamBody;
  const state = stateOf(metadata);
  if (state !== 'pending' || !body) {
    (body as NodeJS.ReadableStream & { destroy?: () => void })?.destroy?.();
    if (state === 'pending') throw new Error(`${name}: the download has no body`);
    return { kind: 'skipped', state };
  }
  // Marks on the input: only the lease holder (lease ID) or, with the lock elsewhere, only if the
  // blob is unchanged since this holder read it.
  const markConditions = holding.leaseId
    ? { leaseId: holding.leaseId }
    : download.etag
      ? { ifMatch: download.etag }
      : {};
  const mark = (changes: Record<string, string | undefined>) =>
    input.setMetadata(merged(metadata, changes), { abortSignal: signal, conditions: markConditions });

  options.onProcessing?.(name);
  const names = outputNames(name, EXTENSIONS[options.transform]);
  const outputBlob = containers.output.getBlockBlobClient(names.data);
  const tapIn = new Tap();
  const tapOut = new Tap();
  const committer = new BlockCommitter(outputBlob, signal);
  const attempt = failuresOf(metadata) + 1;
  const stages: NodeJS.ReadWriteStream[] = [
    tapIn,
    metaValue(metadata, MARK.poison) ? poison(name) : createTransform(options.transform),
  ];
  if (options.paceMs > 0) stages.push(pace(options.paceMs, signal));
  try {
    await pipeline([body, ...stages, tapOut, committer], { signal });
  } catch (error) {
    // A lost lease is not the blob's fault: no failure is counted, the next holder starts over.
    if (signal.aborted) throw signal.reason;
    const failures = attempt;
    const reason = reasonOf(error);
    const failed = failures >= options.maxAttempts;
    try {
      await mark({
        [MARK.failures]: String(failures),
        [MARK.error]: headerSafe(reason),
        [MARK.state]: failed ? 'failed' : undefined,
      });
    } catch (markError) {
      if (signal.aborted) throw signal.reason;
      if (isStatus(markError, 412))
        return { kind: 'conflict', reason: `could not count the failure: ${reasonOf(markError)}` };
      throw markError;
    }
    return { kind: failed ? 'failed' : 'retry', failures, reason };
  }
  const processed = performance.now();
  const fence = holding.fence ?? null;
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
    try {
      await mark({ ...doneMarks, [MARK.worker]: originalWorker });
    } catch (markError) {
      if (signal.aborted) throw signal.reason;
      if (isStatus(markError, 412))
        return { kind: 'conflict', reason: `${names.data} committed and marked by another run` };
      throw markError;
    }
    return { kind: 'adopted', output: names.data, manifest };
  }
  const manifest = manifestOf(performance.now());
  await writeManifest(containers, names.manifest, manifest, signal);
  try {
    await mark(doneMarks);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (isStatus(error, 412)) return { kind: 'conflict', reason: `${name} was marked by another run` };
    throw error;
  }
  return { kind: 'committed', manifest };

  function manifestOf(committed: number, extra: Pick<Manifest, 'adoptedFrom'> = {}): Manifest {
    return {
      version: 1,
      input: {
        container: containers.input.containerName,
        name,
        bytes: tapIn.bytes,
        sha256: tapIn.digest(),
        etag: download.etag,
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
