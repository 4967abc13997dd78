/**
 * The protected resource, in a process of its own on loopback: a counter behind a tiny HTTP API.
 * Reads and writes may carry a fence; with fencing on (SAFETY_FENCING=1) a fence below the
 * highest seen is refused at read time as well as at write time (a read-modify-write is only
 * protected if its read is). Without fencing every write is accepted, so overlaps show. Every
 * entry (the read), write and exit is recorded on this process's monotonic clock.
 *
 * Faults: POST /fault arms a pause of the next client that reads or writes: the checker SIGSTOPs
 * it (by the pid it sent) and SIGCONTs it later. A paused write is applied when the writer
 * resumes: exactly what a holder stopped between its check of the lease and its write looks like.
 *
 * Run: node checker.ts (prints {"port":N} once listening). Only node: imports, so Node's type
 * stripping runs it as is.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CheckerFault, CheckerReport, SectionRecord } from './records.js';

const fencing = process.env.SAFETY_FENCING === '1';
let counter = 0;
let highestFence = Number.NEGATIVE_INFINITY;
let acceptedWrites = 0;
const sections = new Map<string, SectionRecord>();
let armed: CheckerFault | undefined;

function fenceRefused(fence: number | undefined): boolean {
  if (!fencing) return false;
  // A client that sends no fence under fencing is refused: the resource cannot order it.
  if (fence === undefined) return true;
  if (fence < highestFence) return true;
  highestFence = fence;
  return false;
}

function pauseTaken(at: 'read' | 'write'): CheckerFault | undefined {
  if (!armed || armed.at !== at || acceptedWrites < (armed.afterWrites ?? 0)) return undefined;
  const fault = armed;
  armed = undefined;
  return fault;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function read(body: Record<string, unknown>): Promise<unknown> {
  const section = String(body.section);
  const fence = typeof body.fence === 'number' ? body.fence : undefined;
  const refused = fenceRefused(fence);
  const record: SectionRecord = {
    section,
    client: String(body.client),
    fence,
    readAt: performance.now(),
    readOk: !refused,
    value: counter,
  };
  sections.set(section, record);
  const fault = refused ? undefined : pauseTaken('read');
  if (fault) {
    // Stopped before it gets the answer: it wakes up inside its section, past its TTL.
    process.kill(Number(body.pid), 'SIGSTOP');
    record.pausedMs = fault.pauseMs;
    setTimeout(() => process.kill(Number(body.pid), 'SIGCONT'), fault.pauseMs);
  }
  return refused ? { ok: false, refused: 'fence', highest: highestFence } : { ok: true, value: counter };
}

async function write(body: Record<string, unknown>): Promise<unknown> {
  const record = sections.get(String(body.section));
  if (!record) return { ok: false, refused: 'unknown section' };
  const fault = pauseTaken('write');
  if (fault) {
    // The write was sent; its sender stops before it lands, and it lands when the sender resumes.
    const pid = Number(body.pid);
    process.kill(pid, 'SIGSTOP');
    record.pausedMs = fault.pauseMs;
    await sleep(fault.pauseMs);
    process.kill(pid, 'SIGCONT');
  }
  const fence = typeof body.fence === 'number' ? body.fence : undefined;
  record.writeAt = performance.now();
  record.written = Number(body.value);
  if (fenceRefused(fence)) {
    record.writeOk = false;
    return { ok: false, refused: 'fence', highest: highestFence };
  }
  record.writeOk = true;
  record.counterBefore = counter;
  counter = Number(body.value);
  acceptedWrites += 1;
  return { ok: true };
}

function exit(body: Record<string, unknown>): unknown {
  const record = sections.get(String(body.section));
  if (record) record.exitAt = performance.now();
  return { ok: true };
}

function report(): CheckerReport {
  return {
    fencing,
    counter,
    highestFence: Number.isFinite(highestFence) ? highestFence : 0,
    sections: [...sections.values()],
    now: performance.now(),
  };
}

async function route(req: IncomingMessage, body: Record<string, unknown>): Promise<unknown> {
  switch (`${req.method} ${req.url}`) {
    case 'POST /read':
      return read(body);
    case 'POST /write':
      return write(body);
    case 'POST /exit':
      return exit(body);
    case 'POST /fault':
      armed = body as unknown as CheckerFault;
      return { ok: true };
    case 'GET /report':
      return report();
    default:
      return undefined;
  }
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    route(req, body).then(
      (answer) => {
        res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer ?? { error: 'not found' }));
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(error) }));
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
