/** Where the apps' executables are: the `bin` each package declares, run with this Node. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export function binPath(packageName: string, bin: string): string {
  const manifest = require.resolve(`${packageName}/package.json`);
  const { bin: bins } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> };
  const file = bins?.[bin];
  if (file === undefined) throw new Error(`${packageName} has no bin ${bin}`);
  return join(dirname(manifest), file);
}
