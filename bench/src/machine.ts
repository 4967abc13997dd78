import { spawnSync } from 'node:child_process';
import { cpus, release, type } from 'node:os';
import { currentPinning } from './pin.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly os: string;
  readonly pinning: string;
  /** The commit measured, `+` when the work tree had changes (`?` outside git). */
  readonly commit: string;
}

function commit(): string {
  const git = (...args: string[]) => spawnSync('git', args, { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return '?';
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '+' : ''}`;
}

export function describeMachine(): Machine {
  const model = cpus()[0]?.model.trim() || 'unknown CPU';
  return {
    cpu: model,
    cores: Math.max(cpus().length, 1),
    node: process.version,
    os: `${type()} ${release()}`,
    pinning: currentPinning().detail,
    commit: commit(),
  };
}
