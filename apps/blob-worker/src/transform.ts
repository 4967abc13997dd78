/**
 * The processing itself: a stream transform per blob (gzip by default), wrapped so that a
 * seeded poison blob throws and a seeded crashing blob kills the process, and an optional pace stalls the end of the stream (a long-running
 * job for demos: it keeps the lease busy while the signal can still abort it).
 */

import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import type { TransformName } from './config.js';

export class PoisonBlobError extends Error {
  override readonly name = 'PoisonBlobError';
  readonly code = 'POISON_BLOB';
}

export const EXTENSIONS: Record<TransformName, string> = { gzip: '.gz', identity: '' };

export function createTransform(name: TransformName): Transform {
  // Level 6 is zlib's default; Node writes no timestamp, so the same input gives the same bytes.
  return name === 'gzip' ? createGzip() : new PassThrough();
}

/** Fails on the first chunk: a blob `seed --failing` marked, standing for input the job cannot handle. */
export function poison(blobName: string): Transform {
  return new Transform({
    transform(_chunk, _encoding, callback: TransformCallback) {
      callback(new PoisonBlobError(`${blobName} is marked poison: the transform refuses it`));
    },
  });
}

/**
 * Kills its own process on the first chunk: a blob `seed --crashing` marked, standing for input
 * that brings the worker down every time (the OOM killer, a native crash). SIGKILL, so nothing
 * runs after it: no handler, no release, no last event; the lease is left to expire.
 */
export function crash(): Transform {
  return new Transform({
    transform() {
      process.kill(process.pid, 'SIGKILL');
    },
  });
}

/** Holds the end of the stream back `ms`, unless `signal` aborts first. */
export function pace(ms: number, signal: AbortSignal): Transform {
  return new Transform({
    transform(chunk, _encoding, callback: TransformCallback) {
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      sleep(ms, undefined, { signal }).then(
        () => callback(),
        (error: unknown) => callback(error as Error),
      );
    },
  });
}
