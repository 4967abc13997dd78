import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** The server's executable is not installed: the message says how to install it or what to set instead. */
export class MissingBinaryError extends Error {
  readonly binary: string;
  constructor(binary: string, hint: string | undefined) {
    super(`[leasekit] [testing] ${binary} not found on PATH${hint ? `: ${hint}` : ''}`);
    this.name = 'MissingBinaryError';
    this.binary = binary;
  }
}

/** Absolute path of `command` (a name looked up on PATH, or a path), or `undefined`. */
export function findBinary(command: string, path: string = process.env.PATH ?? ''): string | undefined {
  if (command.includes('/')) return isExecutable(command) ? command : undefined;
  for (const dir of path.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
