/**
 * The terminal view of one or many workers. On a TTY: a live table on stderr (done / in progress
 * / failed per worker), redrawn in place at most ten times a second. Otherwise: one plain line per
 * notable event (failures, losses, take-overs) and a progress line every second. With `--json`,
 * every event is one JSON line on stdout and nothing else is drawn.
 */
import type { Summary, WorkerEvent } from './events.js';

interface Row {
  done: number;
  failed: number;
  retried: number;
  lost: number;
  current: string | null;
  fence: number | null;
  state: 'running' | 'stopping' | 'finished' | 'killed';
}

export interface ViewOptions {
  readonly json: boolean;
  readonly tty: boolean;
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  /** The blob count, when known: shown as `done/total`. */
  readonly total?: number;
}

export interface View {
  event(event: WorkerEvent): void;
  /** A line outside the table (the demo's narration). */
  note(line: string): void;
  /** Marks a worker as killed (the demo's SIGKILL). */
  killed(worker: string): void;
  close(): void;
}

const NOTABLE = new Set<WorkerEvent['type']>([
  'failed',
  'retry',
  'lost',
  'abandoned',
  'conflict',
  'error',
  'stopping',
  'adopted',
]);

function describe(event: WorkerEvent): string {
  switch (event.type) {
    case 'failed':
      return `${event.worker}: ${event.blob} FAILED after ${event.failures} attempts: ${event.reason}`;
    case 'retry':
      return `${event.worker}: ${event.blob} failed (attempt ${event.failures}), will retry: ${event.reason}`;
    case 'lost':
      return `${event.worker}: ${event.blob} lease LOST, stopped, nothing committed: ${event.reason}`;
    case 'abandoned':
      return `${event.worker}: ${event.blob} abandoned on shutdown, lease released`;
    case 'conflict':
      return `${event.worker}: ${event.blob} conflict: ${event.reason}`;
    case 'adopted':
      return `${event.worker}: ${event.blob} output found committed, marked done`;
    case 'error':
      return `${event.worker}: ${event.blob ?? '(worker)'} error: ${event.reason}`;
    case 'stopping':
      return `${event.worker}: ${event.signal}: finishing the current blob, taking no more`;
    default:
      return `${event.worker}: ${event.type}`;
  }
}

export function formatSummary(worker: string, summary: Summary): string {
  return `${worker}: ${summary.committed} committed, ${summary.adopted} adopted, ${summary.failed} failed, ${summary.retried} retried, ${summary.lost} lost, ${summary.conflicts} conflicts, ${summary.errors} errors in ${summary.seconds} s (${summary.blobsPerSecond} blobs/s), ${summary.end}`;
}

export function createView(options: ViewOptions): View {
  const rows = new Map<string, Row>();
  let drawnLines = 0;
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  const notes: string[] = [];

  const row = (worker: string): Row => {
    let found = rows.get(worker);
    if (!found) {
      found = { done: 0, failed: 0, retried: 0, lost: 0, current: null, fence: null, state: 'running' };
      rows.set(worker, found);
    }
    return found;
  };

  const table = (): string[] => {
    const done = [...rows.values()].reduce((sum, r) => sum + r.done, 0);
    const failed = [...rows.values()].reduce((sum, r) => sum + r.failed, 0);
    const total = options.total === undefined ? '' : `/${options.total}`;
    const lines = [
      `blobs: ${done}${total} done, ${failed} failed, ${[...rows.values()].filter((r) => r.current).length} in progress`,
    ];
    for (const [worker, r] of rows) {
      const current = r.current ? `${r.current} (fence ${r.fence ?? '-'})` : '-';
      lines.push(
        `  ${worker.padEnd(18)} ${r.state.padEnd(9)} done ${String(r.done).padStart(4)}  failed ${String(r.failed).padStart(3)}  lost ${r.lost}  now ${current}`,
      );
    }
    return lines;
  };

  const draw = () => {
    dirty = false;
    const rowsNow = table();
    const lines = [...notes.splice(0), ...rowsNow];
    // Move up over the last table, clear to the end, write notes (they scroll away) and the table.
    const up = drawnLines > 0 ? `\x1b[${drawnLines}A\x1b[0J` : '';
    options.err.write(`${up}${lines.join('\n')}\n`);
    drawnLines = rowsNow.length;
  };

  const schedule = () => {
    if (options.json) return;
    dirty = true;
    if (!timer) {
      timer = setInterval(
        () => {
          if (!dirty) return;
          if (options.tty) draw();
          else options.err.write(`${table()[0]}\n`);
        },
        options.tty ? 100 : 1000,
      );
      timer.unref();
    }
  };

  return {
    event(event) {
      if (options.json) {
        options.out.write(`${JSON.stringify(event)}\n`);
        return;
      }
      const r = row(event.worker);
      switch (event.type) {
        case 'processing':
          r.current = event.blob;
          r.fence = event.fence;
          break;
        case 'committed':
        case 'adopted':
          r.done++;
          r.current = null;
          break;
        case 'failed':
          r.failed++;
          r.current = null;
          break;
        case 'retry':
          r.retried++;
          r.current = null;
          break;
        case 'lost':
          r.lost++;
          r.current = null;
          break;
        case 'abandoned':
        case 'conflict':
        case 'skipped':
        case 'error':
          r.current = null;
          break;
        case 'stopping':
          r.state = 'stopping';
          break;
        case 'summary':
          r.state = 'finished';
          r.current = null;
          break;
        default:
          break;
      }
      if (NOTABLE.has(event.type)) {
        if (options.tty) notes.push(describe(event));
        else options.err.write(`${describe(event)}\n`);
      }
      schedule();
    },
    note(line) {
      if (options.json) return;
      if (options.tty) {
        notes.push(line);
        schedule();
      } else {
        options.err.write(`${line}\n`);
      }
    },
    killed(worker) {
      const r = row(worker);
      r.state = 'killed';
      r.current = null;
      schedule();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (options.json) return;
      if (options.tty) draw();
      else options.err.write(`${table().join('\n')}\n`);
    },
  };
}
