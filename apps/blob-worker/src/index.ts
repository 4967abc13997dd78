/** The worker's parts, for tests, the benchmark and anyone embedding it. The CLI is `main.ts`. */
export { BlockCommitter, OutputExistsError } from './committer.js';
export { type Config, ConfigError, parseCommand, parseRun, parseSeed, type RunConfig } from './config.js';
export type { Summary, WorkerEvent } from './events.js';
export { createLeaseProvider, type LeaseProvider, lockerLeases, noLease } from './leases.js';
export { listPending } from './lister.js';
export { MARK, stateOf } from './metadata.js';
export {
  type Holding,
  type Manifest,
  type Outcome,
  type ProcessorOptions,
  processBlob,
} from './processor.js';
export { seedBlobs, seedContent } from './seed.js';
export { type Containers, openContainers } from './storage.js';
export { type Verification, verifyRun } from './verify.js';
export { runWorker, ShutdownError, type WorkerOptions } from './worker.js';
