import type { AnyBackend } from '@leasekit/core';

/** The groups of the suite. Each can be turned off; a group turned off shows as skipped, never vanishes. */
export type ContractGroup =
  | 'basics'
  | 'contention'
  | 'waiting'
  | 'expiry'
  | 'renewal'
  | 'ownership'
  | 'fencing'
  | 'handOver'
  | 'badInput'
  | 'lifecycle';

/** What the backend under test can do, declared up front so groups are registered (or skipped) visibly. */
export interface ContractCapabilities {
  /** Lease backend (`renew`); false for a timeout-lock backend. */
  readonly renew: boolean;
  /** Fencing tokens. */
  readonly fencing: boolean;
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  /** The backend implements `inspect`. Default false. */
  readonly inspect?: boolean;
  /** The backend implements the `released` hint. Default false. */
  readonly releasedHint?: boolean;
  /** The backend implements `handOver` (local hand-overs without a round trip). Default false. */
  readonly handOver?: boolean;
  /**
   * Its `handOver` says whether somebody else waits for the key (`contended`: a boolean, not
   * `undefined`), so a run of local hand-overs goes on past `localHandOvers` while nobody does.
   * Default false.
   */
  readonly contention?: boolean;
  /** TTL granularity, e.g. 1000 for Azure (keyv's `ttlGranularity: 'seconds'`). Default 1. */
  readonly ttlGranularityMs?: number;
}

export interface ContractHooks {
  /** Makes the current holding of `key` expire now (white-box; e.g. break the lease). Speeds up expiry tests. */
  forceExpire?(key: string): Promise<void>;
}

export interface ContractTiming {
  /** TTL for tests that hold a lease for a while. Default: `max(minTtl, 600ms)` rounded up to the granularity. */
  readonly ttlMs?: number;
  /** Timeout of one test, ms. Default: a generous multiple of `ttlMs`. */
  readonly testTimeoutMs?: number;
}

export interface ContractOptions {
  /** Shown in the suite's title, e.g. `'redis (3 nodes)'`. */
  readonly name: string;
  /**
   * Returns a NEW backend (its own clients) onto the SAME store each time it is called: the suite
   * makes contention between several of them. The suite closes every backend it creates.
   */
  readonly createBackend: () => AnyBackend | Promise<AnyBackend>;
  readonly capabilities: ContractCapabilities;
  readonly hooks?: ContractHooks;
  readonly timing?: ContractTiming;
  /** Groups to skip (they show as skipped). */
  readonly skip?: readonly ContractGroup[];
  /**
   * Run only these groups: for splitting the suite across test files (e.g. the groups that
   * wait out long TTLs in a file run concurrently). The others are each registered as one skipped
   * entry (`LEFT_TO_ANOTHER_FILE`), so each file's report shows what it left out. The files together must cover every group.
   */
  readonly only?: readonly ContractGroup[];
  /**
   * Tests that must wait out a real TTL are "slow" when the TTL is long (e.g. Azure's 15 s):
   * set false to skip them (visibly) in quick runs. Default true. The suite's tests use their own
   * keys and may run concurrently: wrapping the call in `describe.concurrent` is supported.
   */
  readonly slow?: boolean;
}
