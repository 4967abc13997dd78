import { InvalidArgumentError } from '@leasekit/core';

/** Azure's limit on a blob name, in characters. */
export const MAX_BLOB_NAME_LENGTH = 1024;

/** Characters kept as they are in a lock blob's name; everything else is percent-encoded (UTF-8). */
const KEPT = /[A-Za-z0-9\-_.~:@]/;

/**
 * Encodes a key into the name of its lock blob: `prefix` + the key with every character outside
 * `A-Z a-z 0-9 - _ . ~ : @` percent-encoded as UTF-8 (so `/`, `\`, `%`, spaces and control
 * characters never reach Azure as such), and a trailing dot encoded too (Azure drops it). The
 * encoding is injective: two keys never share a lock blob. Returns `undefined` when the key is
 * not well-formed Unicode (a lone surrogate has no UTF-8 form).
 */
export function encodeKey(key: string): string | undefined {
  let out = '';
  for (const char of key) {
    if (KEPT.test(char)) {
      out += char;
      continue;
    }
    const code = char.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) return undefined;
    for (const byte of Buffer.from(char, 'utf8'))
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.endsWith('.')) out = `${out.slice(0, -1)}%2E`;
  return out;
}

/** The key a lock blob name stands for (the inverse of `prefix + encodeKey(key)`), or `undefined`. */
export function decodeLockBlobName(name: string, prefix: string): string | undefined {
  if (!name.startsWith(prefix)) return undefined;
  try {
    return decodeURIComponent(name.slice(prefix.length));
  } catch {
    return undefined;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `name` cannot be used as a blob name, or `undefined` when it can. */
export function blobNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a blob name cannot be empty';
  if (name.length > MAX_BLOB_NAME_LENGTH) {
    return `a blob name must be at most ${MAX_BLOB_NAME_LENGTH} characters; this one has ${name.length}`;
  }
  if (LONE_SURROGATE.test(name)) return 'a blob name must be well-formed Unicode (it has a lone surrogate)';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'a blob name must not contain control characters';
  if (name.includes('\\')) return "a blob name must not contain '\\' (Azure turns it into '/')";
  if (/[./]$/.test(name)) return "a blob name must not end with '.' or '/'";
  if (name.split('/').length > 254) return 'a blob name must have at most 254 path segments';
  return undefined;
}

export type KeyLayout = 'lock-blobs' | 'blob-names';

/**
 * Maps keys to blob names. `lock-blobs`: `prefix + encodeKey(key)`, refused when longer than
 * Azure allows. `blob-names`: the key is the blob's own name, refused when Azure cannot address it.
 */
export function createBlobNamer(
  layout: KeyLayout,
  prefix: string,
): (key: string, operation: string) => string {
  const backend = 'azure-blob';
  if (layout === 'blob-names') {
    return (key, operation) => {
      const problem = blobNameProblem(key);
      if (problem) {
        throw new InvalidArgumentError(`key must be a valid blob name: ${problem}`, {
          backend,
          operation,
          key,
        });
      }
      return key;
    };
  }
  return (key, operation) => {
    const encoded = encodeKey(key);
    if (encoded === undefined) {
      throw new InvalidArgumentError('key must be well-formed Unicode (it has a lone surrogate)', {
        backend,
        operation,
        key,
      });
    }
    const name = prefix + encoded;
    if (name.length > MAX_BLOB_NAME_LENGTH) {
      throw new InvalidArgumentError(
        `key must encode to a blob name of at most ${MAX_BLOB_NAME_LENGTH} characters with its prefix; it encodes to ${name.length}`,
        { backend, operation, key },
      );
    }
    return name;
  };
}
