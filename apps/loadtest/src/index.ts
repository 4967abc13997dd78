export {
  checkInvariant,
  checkItem,
  type InvariantVerdict,
  type ItemTally,
  type ItemVerdict,
} from './invariant.js';
export { LatencyHistogram, type LatencySummary } from './latency.js';
export { formatSummary, type LoadtestSummary, runLoadtest } from './loadtest.js';
export { DEFAULTS, type LoadtestOptions, parseDuration, parseOptions, USAGE, UsageError } from './options.js';
export { formatRecord, isUncertain, parseRecord, type ResponseRecord } from './run.js';
