import type { LockNode } from './node.js';
import type { ReleaseNotifier } from './notifier.js';

/** The independent nodes of one backend and the rules that apply across them. */
export interface NodeSet {
  readonly nodes: readonly LockNode[];
  /** floor(N/2) + 1 */
  readonly quorum: number;
  readonly prefix: string;
  readonly fencing: boolean;
  /** Release notifications: waiters register for a wake-up, and releases wake the first. */
  readonly notifier: ReleaseNotifier | undefined;
  /** How long one node may take to answer, for a lease of `ttlMs`. */
  nodeTimeoutMs(ttlMs: number): number;
}
