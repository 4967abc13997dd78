#!/usr/bin/env node
/** `leasekit-loadtest`: see `--help`. Exit 0 held, 1 violated, 2 bad options, 3 the run failed. */
import { formatSummary, runLoadtest } from './loadtest.js';
import { type LoadtestOptions, parseOptions, USAGE } from './options.js';

let options: LoadtestOptions | 'help';
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
if (options === 'help') {
  console.log(USAGE);
  process.exit(0);
}

// Ctrl-C stops sending; the answers so far are still summarised and checked.
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

try {
  const summary = await runLoadtest(options, controller.signal);
  console.log(options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
  process.exitCode = summary.invariant === undefined || summary.invariant.held ? 0 : 1;
} catch (error) {
  console.error(`leasekit-loadtest: ${(error as Error).message}`);
  process.exitCode = 3;
}
