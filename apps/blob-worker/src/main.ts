#!/usr/bin/env node
/**
 * leasekit-blob-worker: reads the command line and the environment, runs the command, handles
 * signals. SIGINT/SIGTERM once: take no more blobs, let the current one finish (up to --drain),
 * release its lease and exit 0. A second signal abandons the current blob at once.
 */
import { ConfigError, parseCommand, type RunConfig, type SeedConfig, USAGE } from './config.js';
import type { WorkerEvent } from './events.js';
import { createLeaseProvider } from './leases.js';
import { seedBlobs } from './seed.js';
import { openContainers } from './storage.js';
import { createView, formatSummary } from './view.js';
import { runWorker } from './worker.js';

async function run(config: RunConfig): Promise<number> {
  const containers = openContainers(config.storage);
  const leases = await createLeaseProvider(config);
  const view = createView({
    json: config.json,
    tty: process.stderr.isTTY === true,
    out: process.stdout,
    err: process.stderr,
  });
  const emit = (event: WorkerEvent) => view.event(event);
  const stop = new AbortController();
  const abandon = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      emit({ type: 'stopping', worker: config.workerId, signal });
      stop.abort();
    } else {
      abandon.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  emit({ type: 'started', worker: config.workerId, lock: leases.name, pid: process.pid });
  try {
    const summary = await runWorker({
      containers,
      leases,
      processor: {
        workerId: config.workerId,
        transform: config.transform,
        maxAttempts: config.maxAttempts,
        paceMs: config.paceMs,
        lock: leases.name,
      },
      pollMs: config.pollMs,
      watch: config.watch,
      drainMs: config.drainMs,
      emit,
      stop: stop.signal,
      abandon: abandon.signal,
    });
    view.close();
    if (!config.json) process.stdout.write(`${formatSummary(config.workerId, summary)}\n`);
    return summary.end === 'fatal' ? 1 : 0;
  } finally {
    await leases.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function seed(config: SeedConfig): Promise<number> {
  const { input } = openContainers(config.storage);
  const started = performance.now();
  const result = await seedBlobs(input, config);
  const seconds = Math.round(performance.now() - started) / 1000;
  if (config.json) {
    process.stdout.write(
      `${JSON.stringify({ type: 'seeded', container: config.storage.input, count: result.names.length, poison: result.poison, crashing: result.crashing, bytes: result.bytes, seconds })}\n`,
    );
  } else {
    process.stdout.write(
      `seeded ${result.names.length} blobs (${result.bytes} bytes, ${result.poison.length} poison, ${result.crashing.length} crashing) into ${config.storage.input} in ${seconds} s\n`,
    );
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const config = parseCommand(argv);
  switch (config.command) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'run':
      return run(config);
    case 'seed':
      return seed(config);
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo(config);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`leasekit-blob-worker: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    const code = (error as { code?: unknown }).code;
    process.stderr.write(
      `leasekit-blob-worker: ${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}\n`,
    );
    process.exitCode = 1;
  },
);
