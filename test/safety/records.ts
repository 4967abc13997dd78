/**
 * What the checker and the client processes record, and what a scenario measures. Type-only:
 * the process entry points (checker.ts, client.ts) run under Node's type stripping and import
 * nothing from here at run time.
 */

/** One pass of a client through the critical section, as the checker saw it (checker's clock). */
export interface SectionRecord {
  readonly section: string;
  readonly client: string;
  readonly fence: number | undefined;
  /** Entry: the read (monotonic ms on the checker's clock). */
  readonly readAt: number;
  /** False when the read was refused by fencing (the section ends there). */
  readonly readOk: boolean;
  readonly value: number;
  writeAt?: number;
  writeOk?: boolean;
  /** The value written (the client's read + 1). */
  written?: number;
  /** The counter just before an accepted write. */
  counterBefore?: number;
  exitAt?: number;
  /** The checker SIGSTOPped the client here for this long (a fault, recorded as such). */
  pausedMs?: number;
}

export interface CheckerReport {
  readonly fencing: boolean;
  readonly counter: number;
  readonly highestFence: number;
  readonly sections: readonly SectionRecord[];
  /** The checker's clock when the report was taken. */
  readonly now: number;
}

/** Armed on the checker: SIGSTOP the next client that reads or writes, after `afterWrites` accepted writes. */
export interface CheckerFault {
  readonly at: 'read' | 'write';
  readonly pauseMs: number;
  readonly afterWrites?: number;
}

export type BackendConfig =
  | { readonly kind: 'redis'; readonly urls: readonly string[]; readonly prefix: string }
  | { readonly kind: 'azure-blob'; readonly connectionString: string; readonly container: string }
  | {
      readonly kind: 'dynamodb';
      readonly endpoint: string;
      readonly table: string;
      readonly requestTimeoutMs: number;
    }
  | { readonly kind: 'http'; readonly baseUrl: string };

/** A client process's configuration (JSON in `SAFETY_CLIENT`). */
export interface ClientConfig {
  readonly name: string;
  readonly checkerUrl: string;
  readonly key: string;
  readonly backend: BackendConfig;
  readonly ttlMs: number;
  /** How long one `acquire` may wait. */
  readonly waitMs: number;
  /** The client stops starting new sections after this long. */
  readonly durationMs: number;
  /** Random time between the read and the write, [min, max] ms. */
  readonly holdMs: readonly [number, number];
  /** Send the lease's fence with reads and writes. */
  readonly fencing: boolean;
  /** Wait before the first acquire (lets a designated first holder in first); the duration counts from its end. */
  readonly startDelayMs?: number;
  /** The locker's renewFraction (default: core's, a third of the TTL). */
  readonly renewFraction?: number;
}

/** A client's own record of one lease (the client's monotonic clock). */
export interface LeaseRecord {
  readonly client: string;
  readonly section: string;
  readonly fence: number | undefined;
  readonly acquireMs: number;
  /** The local deadline as last known (acquire or renewal), monotonic ms. */
  deadlineAt: number;
  lossAt?: number;
  lossReason?: string;
  /** The write was sent (the signal had not fired when the client checked it). */
  wrote: boolean;
  writeSentAt?: number;
  /** The event loop stood still across the local deadline (the process was stopped). */
  stalledAcrossDeadline?: boolean;
}

export interface AcquireFailure {
  readonly client: string;
  readonly code: string;
  readonly afterMs: number;
}

/** What a client process prints as its last line. */
export interface ClientReport {
  readonly client: string;
  readonly leases: readonly LeaseRecord[];
  readonly failures: readonly AcquireFailure[];
  /** Event-loop stalls seen: [from, to] monotonic ms. */
  readonly stalls: ReadonlyArray<readonly [number, number]>;
}

/** The measured figures of one scenario run. */
export interface ScenarioResult {
  readonly backend: string;
  readonly scenario: string;
  /** Inside the backend's assumptions (no pause longer than the TTL, a majority alive, ...). */
  readonly inside: boolean;
  readonly fencing: boolean;
  /** The clients' TTL (ms). */
  readonly ttlMs: number;
  readonly sections: number;
  readonly acceptedWrites: number;
  readonly overlappingSections: number;
  readonly overlappingWrites: number;
  readonly lostUpdates: number;
  readonly refusedByFence: number;
  readonly losses: number;
  /** Losses signalled before the client sent its write (or with no write sent after them). */
  readonly lossesBeforeWrite: number;
  /** Losses signalled after the local deadline by a process that was not stopped across it. */
  readonly lossesLate: number;
  readonly acquireP50Ms: number;
  readonly acquireP99Ms: number;
  /** Acquire attempts that got the lease. */
  readonly availability: number;
  readonly failureCodes: Readonly<Record<string, number>>;
  readonly durationMs: number;
}
