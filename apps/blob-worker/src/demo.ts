/**
 * `demo`: Azurite in memory, `blobs` seeded blobs, `workers` worker processes with leases on the
 * blobs themselves. One worker runs slowly (each blob paced 2 s) and is killed with SIGKILL in the
 * middle of its first blob; its lease runs out after 15 s (Azure's shortest) and another worker
 * takes the blob over. At the end it checks every blob was processed exactly once and prints how
 * long the take-over took and the throughput. Bounded: it gives up after two minutes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startAzurite } from '@leasekit/testing';
import type { DemoConfig } from './config.js';
import type { WorkerEvent } from './events.js';
import { spawnWorker, type WorkerProcess } from './pool.js';
import { seedBlobs } from './seed.js';
import { openContainers } from './storage.js';
import { verifyRun } from './verify.js';
import { createView } from './view.js';

const LIMIT_MS = 120_000;
const TTL = '15s';

export async function runDemo(config: DemoConfig): Promise<number> {
  const view = createView({
    json: config.json,
    tty: process.stderr.isTTY === true,
    out: process.stderr,
    err: process.stderr,
    total: config.blobs,
  });
  const say = (line: string) => (config.json ? undefined : process.stdout.write(`${line}\n`));
  say('starting Azurite (blob service, in memory)...');
  const azurite = await startAzurite();
  const workers: WorkerProcess[] = [];
  try {
    const storage = { connectionString: azurite.connectionString, input: 'demo-in', output: 'demo-out' };
    const containers = openContainers(storage);
    const seeded = await seedBlobs(containers.input, {
      count: config.blobs,
      minBytes: 1024,
      maxBytes: 8192,
      failing: 0,
      prefix: 'item-',
    });
    say(`seeded ${seeded.names.length} blobs (${seeded.bytes} bytes) at ${azurite.blobEndpoint}/demo-in`);
    const env = { ...process.env, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
    const common = ['--input', storage.input, '--output', storage.output, '--ttl', TTL, '--poll', '250ms'];
    const victimId = `worker-${config.workers}`;
    const started = Date.now();
    for (let i = 1; i <= config.workers; i++) {
      const id = `worker-${i}`;
      // The victim is slow, so that the kill lands in the middle of a blob, not between two.
      const args = id === victimId ? [...common, '--pace', '2s'] : common;
      workers.push(spawnWorker({ id, args, env, onEvent: (event: WorkerEvent) => view.event(event) }));
    }
    say(
      `${config.workers} workers started, lease ${TTL} on each blob; ${victimId} is slow and will be killed mid-blob`,
    );
    const victim = workers.at(-1) as WorkerProcess;
    let takenCount = 0;
    const secondTake = await victim.waitFor((event) => event.type === 'processing' && ++takenCount === 1);
    const inFlight = (secondTake.event as Extract<WorkerEvent, { type: 'processing' }>).blob;
    await sleep(300);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    view.killed(victimId);
    view.note(
      `SIGKILL ${victimId} (pid ${victim.child.pid}) while it processes ${inFlight}: its lease stays until it expires`,
    );

    // Unreferenced: the demo ends as soon as the workers do.
    const deadline = sleep(LIMIT_MS - (Date.now() - started), 'timeout' as const, { ref: false });
    const outcome = await Promise.race([Promise.all(workers.map((w) => w.exited)), deadline]);
    view.close();
    if (outcome === 'timeout') {
      say(`demo: gave up after ${LIMIT_MS / 1000} s`);
      return 1;
    }
    const finished = Math.max(...workers.flatMap((w) => w.events.map((e) => e.at)));
    const verification = await verifyRun(containers);
    const commits = workers.flatMap((w) => w.events.filter((e) => e.event.type === 'committed'));
    const perBlob = new Map<string, number>();
    for (const commit of commits) {
      const blob = (commit.event as Extract<WorkerEvent, { type: 'committed' }>).blob;
      perBlob.set(blob, (perBlob.get(blob) ?? 0) + 1);
    }
    const twice = [...perBlob].filter(([, n]) => n > 1).map(([name]) => name);
    const takeOver = commits.find(
      (c) => c.at > killedAt && c.event.type === 'committed' && c.event.blob === inFlight,
    );
    const takenBy = takeOver ? (takeOver.event as Extract<WorkerEvent, { type: 'committed' }>) : undefined;
    const takenAt = workers
      .flatMap((w) => (w === victim ? [] : w.events))
      .find((e) => e.at > killedAt && e.event.type === 'processing' && e.event.blob === inFlight)?.at;
    const seconds = (finished - started) / 1000;
    // Every other blob was done long before the lease ran out: their rate is the workers' own.
    const others = commits.filter((c) => !(c.event.type === 'committed' && c.event.blob === inFlight));
    const othersDoneAt = Math.max(started + 1, ...others.map((c) => c.at));
    const exactlyOnce =
      verification.done === config.blobs &&
      verification.outputs === config.blobs &&
      verification.manifests.length === config.blobs &&
      verification.duplicates.length === 0 &&
      twice.length === 0;
    const report = {
      blobs: config.blobs,
      workers: config.workers,
      exactlyOnce,
      done: verification.done,
      outputs: verification.outputs,
      manifests: verification.manifests.length,
      committedTwice: twice,
      killed: { worker: victimId, blob: inFlight },
      takenOver:
        takenBy && takenAt
          ? [{ blob: inFlight, by: takenBy.worker, fence: takenBy.fence, afterMs: takenAt - killedAt }]
          : [],
      seconds,
      blobsPerSecond: Math.round((config.blobs / seconds) * 10) / 10,
      blobsPerSecondOthers: Math.round((others.length / ((othersDoneAt - started) / 1000)) * 10) / 10,
    };
    if (config.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      say('');
      say(
        exactlyOnce
          ? `every blob processed exactly once: ${verification.done}/${config.blobs} done, ${verification.outputs} outputs, ${verification.manifests.length} manifests, no blob committed twice`
          : `NOT exactly once: ${verification.done} done, ${verification.outputs} outputs, ${verification.manifests.length} manifests, committed twice: ${twice.join(', ') || 'none'}`,
      );
      for (const t of report.takenOver) {
        say(
          `taken over after the crash: 1 blob (${t.blob}) by ${t.by} with fence ${t.fence}, ${(t.afterMs / 1000).toFixed(1)} s after the SIGKILL (lease ${TTL})`,
        );
      }
      if (report.takenOver.length === 0)
        say(`taken over after the crash: none (${inFlight} was not taken over)`);
      say(
        `throughput: ${report.blobsPerSecond} blobs/s over ${seconds.toFixed(1)} s including the wait for the lease; ${report.blobsPerSecondOthers} blobs/s for the other ${others.length} blobs (done before the lease ran out)`,
      );
    }
    return exactlyOnce && report.takenOver.length === 1 ? 0 : 1;
  } finally {
    for (const w of workers)
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await azurite.stop();
  }
}
