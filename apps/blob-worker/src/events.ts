/** What a worker reports, one event per step: the view renders them, `--json` prints them. */
import type { Manifest } from './processor.js';

export type WorkerEvent =
  | { readonly type: 'started'; readonly worker: string; readonly lock: string; readonly pid: number }
  | {
      readonly type: 'listed';
      readonly worker: string;
      readonly pending: number;
      readonly done: number;
      readonly failed: number;
      readonly total: number;
    }
  /** The lease is held and processing begins. */
  | { readonly type: 'taken'; readonly worker: string; readonly blob: string; readonly fence: number | null }
  /** The input was read under the lease and is pending: the transform runs. */
  | {
      readonly type: 'processing';
      readonly worker: string;
      readonly blob: string;
      readonly fence: number | null;
    }
  | { readonly type: 'held'; readonly worker: string; readonly blob: string }
  | {
      readonly type: 'committed';
      readonly worker: string;
      readonly blob: string;
      readonly fence: number | null;
      readonly ms: number;
      readonly manifest: Manifest;
    }
  | {
      readonly type: 'adopted';
      readonly worker: string;
      readonly blob: string;
      readonly fence: number | null;
      /** The manifest left beside the adopted output (naming this worker, `adoptedFrom` the original). */
      readonly manifest: Manifest;
    }
  | { readonly type: 'skipped'; readonly worker: string; readonly blob: string; readonly state: string }
  | {
      readonly type: 'retry';
      readonly worker: string;
      readonly blob: string;
      readonly failures: number;
      readonly reason: string;
    }
  | {
      readonly type: 'failed';
      readonly worker: string;
      readonly blob: string;
      readonly failures: number;
      readonly reason: string;
    }
  | { readonly type: 'conflict'; readonly worker: string; readonly blob: string; readonly reason: string }
  /** The lease was lost mid-blob: processing stopped, nothing committed. */
  | { readonly type: 'lost'; readonly worker: string; readonly blob: string; readonly reason: string }
  /** Stopping: the current blob was given up and its lease released. */
  | { readonly type: 'abandoned'; readonly worker: string; readonly blob: string }
  | { readonly type: 'error'; readonly worker: string; readonly blob: string | null; readonly reason: string }
  | { readonly type: 'stopping'; readonly worker: string; readonly signal: string }
  | { readonly type: 'summary'; readonly worker: string; readonly summary: Summary };

export interface Summary {
  readonly committed: number;
  readonly adopted: number;
  readonly failed: number;
  readonly retried: number;
  readonly lost: number;
  readonly conflicts: number;
  readonly errors: number;
  readonly seconds: number;
  readonly blobsPerSecond: number;
  /** Why the loop ended. */
  readonly end: 'all-settled' | 'stopped' | 'fatal';
}

export type Emit = (event: WorkerEvent) => void;
