/**
 * Writes one output blob so that it exists completely or not at all. Data is staged as
 * uncommitted blocks while it streams (uncommitted blocks are not output: nobody can read them,
 * and Azure drops them after a week); `commit` then commits the block list with
 * `If-None-Match: *`, so a second commit of the same output (a stale holder, a duplicate run)
 * fails with 409 instead of replacing it. An output that fits one block is sent as one Put Blob
 * under the same condition.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';

export const DEFAULT_BLOCK_BYTES: number = 4 * 1024 * 1024;

/**
 * Thrown by `commit` when the output exists already (someone committed it first). Not a lease
 * error (the lease may well be held): its own `code`, as leasekit's errors carry one, and never
 * retryable (the output will not go away).
 */
export class OutputExistsError extends Error {
  override readonly name = 'OutputExistsError';
  readonly code = 'OUTPUT_EXISTS' as const;
  readonly retryable = false;
}

export function isStatus(error: unknown, status: number): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { statusCode?: unknown }).statusCode === status
  );
}

export class BlockCommitter extends Writable {
  readonly #blob: BlockBlobClient;
  readonly #signal: AbortSignal;
  readonly #blockBytes: number;
  readonly #prefix = randomUUID();
  readonly #blockIds: string[] = [];
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #bytes = 0;

  constructor(blob: BlockBlobClient, signal: AbortSignal, blockBytes: number = DEFAULT_BLOCK_BYTES) {
    super();
    this.#blob = blob;
    this.#signal = signal;
    this.#blockBytes = blockBytes;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    this.#bytes += chunk.length;
    if (this.#pendingBytes < this.#blockBytes) {
      callback();
      return;
    }
    this.#stage().then(() => callback(), callback);
  }

  async #stage(): Promise<void> {
    const body = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    // Block IDs: base64 of equal-length strings, unique per attempt so two writers never mix blocks.
    const id = Buffer.from(`${this.#prefix}-${String(this.#blockIds.length).padStart(6, '0')}`).toString(
      'base64',
    );
    await this.#blob.stageBlock(id, body, body.length, { abortSignal: this.#signal });
    this.#blockIds.push(id);
  }

  /** Makes the output visible, once, with its metadata. Rejects with `OutputExistsError` if it exists. */
  async commit(metadata: Record<string, string>, contentType: string): Promise<void> {
    this.#signal.throwIfAborted();
    const options = {
      abortSignal: this.#signal,
      conditions: { ifNoneMatch: '*' },
      metadata,
      blobHTTPHeaders: { blobContentType: contentType },
    };
    try {
      if (this.#blockIds.length === 0) {
        const body = Buffer.concat(this.#pending, this.#pendingBytes);
        await this.#blob.upload(body, body.length, options);
        return;
      }
      if (this.#pendingBytes > 0) await this.#stage();
      await this.#blob.commitBlockList(this.#blockIds, options);
    } catch (error) {
      if (isStatus(error, 409) || isStatus(error, 412)) {
        throw new OutputExistsError(`${this.#blob.name} exists already: committed by another run`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}
