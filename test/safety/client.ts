/**
 * A client of the protected resource, in a process of its own so that it can be SIGSTOPped. It
 * acquires through leasekit's public API (createLocker over the backend in SAFETY_CLIENT), reads
 * the counter, waits a random time, checks its lease's signal, writes counter + 1 with its fence,
 * and releases; over and over until its duration is up. It records each lease on its own
 * monotonic clock (acquire latency, the local deadline, when and why the loss signal fired,
 * whether the write went out) and prints a ClientReport as its last stdout line.
 *
 * Run: SAFETY_CLIENT='{"name":...}' node client.ts. Imports only packages and node: modules.
 */
import { performance } from 'node:perf_hooks';
import { createLocker, isLeaseError, type Lease, type LeaseBackend } from '@leasekit/core';
import type { AcquireFailure, ClientConfig, ClientReport, LeaseRecord } from './records.js';

const config = JSON.parse(process.env.SAFETY_CLIENT ?? '{}') as ClientConfig;
const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

// Each backend is imported only when used: a client process starts in a fraction of the time.
async function createBackend(): Promise<LeaseBackend> {
  const backend = config.backend;
  switch (backend.kind) {
    case 'redis': {
      const { createRedisBackend } = await import('@leasekit/redis');
      return createRedisBackend({ nodes: [...backend.urls], prefix: backend.prefix });
    }
    case 'azure-blob': {
      const { createAzureBlobBackend } = await import('@leasekit/azure-blob');
      return createAzureBlobBackend({
        connectionString: backend.connectionString,
        container: backend.container,
        fencing: true,
        requestTimeout: 3_000,
      });
    }
    case 'dynamodb': {
      const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
      const { createDynamoDbBackend } = await import('@leasekit/dynamodb');
      return createDynamoDbBackend({
        client: new DynamoDBClient({
          endpoint: backend.endpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'leasekit', secretAccessKey: 'leasekit' },
          maxAttempts: 1,
          requestHandler: {
            requestTimeout: backend.requestTimeoutMs,
            connectionTimeout: backend.requestTimeoutMs,
          },
        }),
        tableName: backend.table,
      });
    }
    case 'http': {
      const { createHttpBackend } = await import('@leasekit/client');
      return createHttpBackend({ baseUrl: backend.baseUrl, timeout: 2_000 });
    }
  }
}

async function call(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`${config.checkerUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, client: config.name, pid: process.pid }),
  });
  return (await response.json()) as Record<string, unknown>;
}

// The event loop's heartbeat: a gap means the process was stopped (or starved) meanwhile.
const stalls: Array<[number, number]> = [];
let lastBeat = now();
const heartbeat = setInterval(() => {
  const at = now();
  if (at - lastBeat > 150) stalls.push([lastBeat, at]);
  lastBeat = at;
}, 10);

const leases: LeaseRecord[] = [];
const failures: AcquireFailure[] = [];
let current: { lease: Lease; record: LeaseRecord } | undefined;

function trackDeadline(): void {
  if (current?.lease.held) current.record.deadlineAt = now() + current.lease.remainingMs;
}
const deadlineTracker = setInterval(trackDeadline, 5);

// A retryable failure to configure (the lock service restarting as this process starts) is retried.
async function createBackendRetrying(): Promise<LeaseBackend> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await createBackend();
    } catch (error) {
      if (attempt >= 50 || !(isLeaseError(error) && error.retryable)) throw error;
      await sleep(200);
    }
  }
}

const locker = createLocker(await createBackendRetrying(), {
  ttl: config.ttlMs,
  ...(config.renewFraction === undefined ? {} : { renewFraction: config.renewFraction }),
  wait: config.waitMs,
  hooks: { renewed: () => queueMicrotask(trackDeadline) },
});

async function section(index: number): Promise<void> {
  const startedAt = now();
  let lease: Lease;
  try {
    lease = await locker.acquire(config.key, { mode: 'lease', wait: config.waitMs });
  } catch (error) {
    failures.push({
      client: config.name,
      code: isLeaseError(error) ? error.code : String((error as Error)?.name),
      afterMs: now() - startedAt,
    });
    await sleep(20);
    return;
  }
  const record: LeaseRecord = {
    client: config.name,
    section: `${config.name}#${index}`,
    fence: lease.fence,
    acquireMs: now() - startedAt,
    deadlineAt: now() + lease.remainingMs,
    wrote: false,
  };
  leases.push(record);
  current = { lease, record };
  lease.signal.addEventListener('abort', () => {
    record.lossAt = now();
    const reason = lease.signal.reason as { reason?: string; code?: string } | undefined;
    record.lossReason = reason?.reason ?? reason?.code ?? 'unknown';
  });
  const fence = config.fencing ? lease.fence : undefined;
  try {
    const read = await call('/read', { section: record.section, fence });
    if (read.ok === true) {
      const [min, max] = config.holdMs;
      // The section's work stops at the loss signal (the holder leaves at once, without writing).
      await sleepUnless(min + Math.random() * (max - min), lease.signal);
      // The one check a holder can make: write only while the lease is held (`held` reads the
      // clock, and marks the lease lost, signal and all, when its loss time has passed).
      if (lease.held) {
        record.wrote = true;
        record.writeSentAt = now();
        await call('/write', { section: record.section, fence, value: Number(read.value) + 1 });
      }
    }
    await call('/exit', { section: record.section });
  } finally {
    current = undefined;
    await lease.release().catch(() => false);
  }
}

if (config.startDelayMs) await sleep(config.startDelayMs);
const deadline = now() + config.durationMs;
for (let index = 0; now() < deadline; index += 1) await section(index);
clearInterval(heartbeat);
clearInterval(deadlineTracker);
await locker.close().catch(() => undefined);
// Known only now: the heartbeat that sees a stall runs after the timers the stall delayed.
for (const record of leases) {
  record.stalledAcrossDeadline = stalls.some(
    ([from, to]) => from <= record.deadlineAt + 5 && to >= record.deadlineAt,
  );
}
const report: ClientReport = { client: config.name, leases, failures, stalls };
process.stdout.write(`\n${JSON.stringify(report)}\n`);
process.exit(0);
