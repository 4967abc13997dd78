/**
 * Creates input blobs: `count` blobs of sizes between `minBytes` and `maxBytes` (text that
 * compresses like logs do), `failing` of them marked poison so the transform throws on them, and
 * `crashing` of them marked so that processing them kills the worker process.
 * Uploads run 16 at a time; existing blobs of the same names are replaced.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { MARK } from './metadata.js';

export interface SeedOptions {
  readonly count: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly failing: number;
  /** Blobs whose processing kills the worker process (default 0). */
  readonly crashing?: number;
  readonly prefix: string;
}

export interface SeedResult {
  readonly names: readonly string[];
  readonly poison: readonly string[];
  readonly crashing: readonly string[];
  readonly bytes: number;
}

const WORDS = [
  'lease',
  'fence',
  'blob',
  'worker',
  'renew',
  'expire',
  'commit',
  'block',
  'azure',
  'redis',
  'quorum',
  'token',
];

/** Deterministic content for blob `index`: the same seed gives the same bytes. */
export function seedContent(index: number, bytes: number): Buffer {
  const lines: string[] = [];
  let length = 0;
  let state = (index + 1) * 2654435761;
  while (length < bytes) {
    state = (state * 1103515245 + 12345) >>> 0;
    const line = `${index} ${state.toString(16)} ${WORDS[state % WORDS.length]} ${WORDS[(state >>> 8) % WORDS.length]}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

export function seedName(prefix: string, index: number, count: number): string {
  return `${prefix}${String(index).padStart(Math.max(5, String(count - 1).length), '0')}.txt`;
}

/**
 * Which blobs are marked: `failing + crashing` indexes spread evenly through the list, poison and
 * crashing taking turns while both remain.
 */
export function markedIndexes(
  count: number,
  failing: number,
  crashing: number,
): Map<number, 'poison' | 'crash'> {
  const marked = new Map<number, 'poison' | 'crash'>();
  const total = Math.min(failing + crashing, count);
  let poisonLeft = failing;
  for (let i = 0; i < total; i++) {
    const crashLeft = total - i - poisonLeft;
    const kind = poisonLeft > 0 && (i % 2 === 0 || crashLeft === 0) ? 'poison' : 'crash';
    if (kind === 'poison') poisonLeft--;
    marked.set(Math.floor((i * count) / total), kind);
  }
  return marked;
}

export async function seedBlobs(container: ContainerClient, options: SeedOptions): Promise<SeedResult> {
  if (options.failing + (options.crashing ?? 0) > options.count) {
    throw new RangeError(
      `at most ${options.count} blobs can be marked failing or crashing; got ${options.failing} + ${options.crashing ?? 0}`,
    );
  }
  await container.createIfNotExists();
  const names: string[] = [];
  const poison: string[] = [];
  const crashing: string[] = [];
  const marked = markedIndexes(options.count, options.failing, options.crashing ?? 0);
  let bytes = 0;
  let next = 0;
  const uploadOne = async (index: number) => {
    const name = seedName(options.prefix, index, options.count);
    const span = options.maxBytes - options.minBytes;
    const size = options.minBytes + (span > 0 ? (index * 7919) % (span + 1) : 0);
    const kind = marked.get(index);
    const body = seedContent(index, size);
    await container.getBlockBlobClient(name).upload(body, body.length, {
      metadata:
        kind === 'poison' ? { [MARK.poison]: 'true' } : kind === 'crash' ? { [MARK.crash]: 'true' } : {},
      blobHTTPHeaders: { blobContentType: 'text/plain' },
    });
    names[index] = name;
    if (kind === 'poison') poison.push(name);
    if (kind === 'crash') crashing.push(name);
    bytes += size;
  };
  const lane = async () => {
    while (next < options.count) await uploadOne(next++);
  };
  await Promise.all(Array.from({ length: Math.min(16, options.count) }, lane));
  return { names, poison: poison.sort(), crashing: crashing.sort(), bytes };
}
