import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Summary, WorkerEvent } from '../src/index.js';
import { createView, formatSummary } from '../src/view.js';

// The terminal view without a TTY (a line per notable event, the table at the end) and with
// --json (one event per line on stdout, nothing else).

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { stream, text: () => text };
}

const summary: Summary = {
  committed: 2,
  adopted: 0,
  failed: 1,
  retried: 1,
  lost: 0,
  conflicts: 0,
  errors: 0,
  seconds: 1.5,
  blobsPerSecond: 1.3,
  end: 'all-settled',
};

const events: WorkerEvent[] = [
  { type: 'started', worker: 'w1', lock: 'azure', pid: 1 },
  { type: 'processing', worker: 'w1', blob: 'a.txt', fence: 3 },
  { type: 'committed', worker: 'w1', blob: 'a.txt', fence: 3, ms: 5, manifest: {} as never },
  { type: 'processing', worker: 'w2', blob: 'b.txt', fence: 4 },
  {
    type: 'failed',
    worker: 'w2',
    blob: 'b.txt',
    failures: 3,
    reason: 'the worker died 3 times while processing it',
  },
  { type: 'summary', worker: 'w1', summary },
];

describe('the view', () => {
  it('without a TTY: notable events as lines, then per-worker done / failed / in progress', () => {
    const out = capture();
    const err = capture();
    const view = createView({ json: false, tty: false, out: out.stream, err: err.stream, total: 2 });
    for (const event of events) view.event(event);
    view.close();
    expect(out.text()).toBe('');
    const lines = err.text().trim().split('\n');
    expect(lines[0]).toBe('w2: b.txt FAILED after 3 attempts: the worker died 3 times while processing it');
    expect(lines).toContain('blobs: 1/2 done, 1 failed, 0 in progress');
    expect(lines.find((line) => line.includes('w1'))).toMatch(/w1 +finished +done +1 +failed +0/);
    expect(lines.find((line) => line.includes('w2') && !line.includes('FAILED'))).toMatch(
      /w2 +running +done +0 +failed +1 .*now -/,
    );
  });

  it('--json: every event is one JSON line on stdout', () => {
    const out = capture();
    const err = capture();
    const view = createView({ json: true, tty: false, out: out.stream, err: err.stream });
    for (const event of events) view.event(event);
    view.close();
    expect(err.text()).toBe('');
    expect(
      out
        .text()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(events);
  });

  it('the final summary line', () => {
    expect(formatSummary('w1', summary)).toBe(
      'w1: 2 committed, 0 adopted, 1 failed, 1 retried, 0 lost, 0 conflicts, 0 errors in 1.5 s (1.3 blobs/s), all-settled',
    );
  });
});
