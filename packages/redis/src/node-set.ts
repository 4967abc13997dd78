import type { LockNode } from './node.js';

/** The independent nodes of one backend and the rules that apply across them. */
export interface NodeSet {
  readonly nodes: readonly LockNode[];
  /** floor(N/2) + 1 */
  readonly quorum: number;
  readonly prefix: string;
  readonly fencing: boolean;
  /** Releases publish on the key's channel. */
  readonly notifications: boolean;
  /** How long one node may take to answer, for a lease of `ttlMs`. */
  nodeTimeoutMs(ttlMs: number): number;
}
