#!/usr/bin/env node
/**
 * `./dev demo`: the seed's demo, proven. Starts a lock service, a database and two order-service
 * instances, runs the load test against both, prints its summary and whether the stock
 * invariant held, and stops everything it started (on error and Ctrl-C too).
 *
 *   ./dev demo                 memory backend, embedded PGlite
 *   ./dev demo --redis         3 local redis-server nodes, the real PostgreSQL (DATABASE_URL)
 *   ./dev demo --no-lock       LOCKING=off: the control run, which oversells
 *   ./dev demo -- --batches 50 anything after the demo's options goes to leasekit-loadtest
 *   ./dev demo library         the library walk-through (apps/demo/src/walkthrough.ts)
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSummary, type LoadtestSummary, parseOptions } from '@leasekit/loadtest';
import { binPath } from './bins.js';
import {
  createScratchDatabase,
  DEFAULT_POSTGRES_URL,
  postgresReachable,
  type ScratchDatabase,
} from './scratch-database.js';
import { type SeedStack, startSeedStack } from './seed-stack.js';

const USAGE = `usage: ./dev demo [--redis] [--no-lock] [--] [leasekit-loadtest options]
       ./dev demo library

  --redis    the lock service over 3 local redis-server nodes, orders in the real PostgreSQL
             (DATABASE_URL, default ${DEFAULT_POSTGRES_URL}; a scratch database, dropped after)
  --no-lock  the order services run with LOCKING=off: the control run, which oversells
  other options go to the load test (see: node apps/loadtest/dist/main.js --help)`;

const args = process.argv.slice(2);
const redis = args.includes('--redis');
const locking = !args.includes('--no-lock');
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
// The seed's load is 200 batches of 20 with 0.1 s pauses (the load test's defaults); the demo
// sends half of it with shorter pauses, still 20 times the stock, to end well within a minute.
// Options given after these win (`./dev demo -- --batches 200 --pause 0.1s` for the seed's run).
const DEMO_LOAD = ['--batches', '100', '--pause', '0.05s'];
const loadtestArgs = args.filter((arg) => arg !== '--redis' && arg !== '--no-lock' && arg !== '--');
// A mistyped option (`--nolock`) is refused now, not after the whole stack has started.
let asJson = false;
try {
  const options = parseOptions(['--url', 'http://127.0.0.1:9090', ...DEMO_LOAD, ...loadtestArgs]);
  asJson = options !== 'help' && options.json;
} catch (error) {
  console.error(`./dev demo: ${(error as Error).message.split('\n')[0]}\n\n${USAGE}`);
  process.exit(2);
}

const started = performance.now();
const say = (message: string) =>
  console.log(`[demo +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}`);

let stack: SeedStack | undefined;
let scratch: ScratchDatabase | undefined;
let cleaning: Promise<void> | undefined;
const cleanUp = () => {
  cleaning ??= (async () => {
    await stack?.stop();
    await scratch
      ?.drop()
      .catch((error: unknown) => console.error(`could not drop ${scratch?.name}: ${error}`));
  })();
  return cleaning;
};
// Settles when the load test has exited (it stops sending on Ctrl-C, reads the final stock and
// prints what it has, so the stack must outlive it); undefined while it is not running.
let loadtestExited: Promise<unknown> | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // A second signal does not wait for the load test.
    const waitFor = interrupted ? Promise.resolve() : (loadtestExited ?? Promise.resolve());
    interrupted = true;
    void waitFor.then(cleanUp).then(() => process.exit(130));
  });
}

try {
  let databaseUrl: string | undefined;
  if (redis) {
    const adminUrl = process.env.DATABASE_URL ?? DEFAULT_POSTGRES_URL;
    if (await postgresReachable(adminUrl)) {
      scratch = await createScratchDatabase(adminUrl);
      databaseUrl = scratch.url;
    } else {
      say(`PostgreSQL does not answer at ${adminUrl}: using the embedded PGlite instead (set DATABASE_URL)`);
    }
  }
  say(
    `starting the lock service (${redis ? '3 redis-server nodes' : 'memory backend'}), ${databaseUrl ? `PostgreSQL database ${scratch?.name}` : 'an embedded PGlite database'} and two order services (LOCKING=${locking ? 'on' : 'off'})`,
  );
  stack = await startSeedStack({
    backend: redis ? 'redis' : 'memory',
    locking,
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
  });
  say(
    `lock service   ${stack.lockServiceUrl}${stack.redisUrls.length ? ` over ${stack.redisUrls.join(', ')}` : ''}`,
  );
  say(`database       ${stack.databaseUrl} (${stack.database})`);
  for (const service of stack.orderServices) say(`order service  ${service.url} (${service.instance})`);

  const log = join(tmpdir(), 'leasekit-demo-responses.log');
  const urls = stack.orderServices.map((service) => service.url).join(',');
  say(
    `load test: batches of concurrent orders of item1 (stock 100), round robin over both instances: ${[...DEMO_LOAD, ...loadtestArgs].join(' ')}`,
  );
  // The verdict is read from the load test's JSON summary, not from its exit status: a crash
  // exits 1 too, and must not be reported as an oversell. The summary is printed from it here.
  const loadtest = new Promise<{ exitCode: number; summary: LoadtestSummary | undefined }>(
    (resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          binPath('@leasekit/loadtest', 'leasekit-loadtest'),
          '--url',
          urls,
          '--log',
          log,
          ...DEMO_LOAD,
          ...loadtestArgs,
          '--json',
        ],
        { stdio: ['inherit', 'pipe', 'inherit'] },
      );
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.once('error', reject);
      child.once('close', (code, signal) => {
        let summary: LoadtestSummary | undefined;
        try {
          summary = JSON.parse(stdout) as LoadtestSummary;
        } catch {
          process.stdout.write(stdout);
        }
        if (summary) console.log(asJson ? JSON.stringify(summary, null, 2) : formatSummary(summary));
        resolve({ exitCode: code ?? (signal ? 130 : 3), summary });
      });
    },
  );
  loadtestExited = loadtest.catch(() => {});
  const { exitCode, summary } = await loadtest;
  // Interrupted: the signal handler stops the stack and exits once the load test has printed.
  if (interrupted) await new Promise(() => {});

  say('stopping everything the demo started');
  await cleanUp();
  const held = summary?.invariant?.held === true;
  if (summary === undefined) {
    console.log(`The load test could not run (exit ${exitCode}).`);
    process.exitCode = 3;
  } else if (summary.invariant === undefined) {
    console.log('\nThe invariant was not checked (--no-check).');
    process.exitCode = 0;
  } else if (locking) {
    console.log(
      held
        ? '\nThe lock held: two order services sold exactly what was in stock, never more (fenced writes, see apps/order-service).'
        : '\nThe invariant did NOT hold with the lock on: this is a bug, please report it with the output above.',
    );
    process.exitCode = held ? 0 : 1;
  } else {
    console.log(
      held
        ? '\nWithout the lock this run happened not to oversell; run it again, or with more concurrency (-- --concurrency 50).'
        : '\nWithout the lock the order services oversold, as the seed did and never noticed. Run ./dev demo to see the lock hold.',
    );
    process.exitCode = 0;
  }
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
  if (stack) console.error(stack.output());
  await cleanUp();
  process.exitCode = 1;
}
