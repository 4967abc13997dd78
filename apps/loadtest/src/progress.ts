/**
 * Progress on stderr: a live bar (cli-progress) on a terminal, with running counts as the seed's
 * script showed them; plain lines every second otherwise (CI logs, pipes).
 */
import cliProgress from 'cli-progress';
import type { LoadtestOptions } from './options.js';
import type { Counts } from './run.js';

export interface Progress {
  update(counts: Counts): void;
  stop(counts: Counts): void;
}

export function createProgress(
  options: LoadtestOptions,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const mode = options.progress === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : options.progress;
  const total = Number.isFinite(options.batches) ? options.batches * options.concurrency : undefined;
  const started = performance.now();
  // With --duration alone the total is unknown: the bar then shows the share of time elapsed.
  const position = (counts: Counts) =>
    total !== undefined
      ? { value: counts.requests, total }
      : {
          value: Math.min(100, Math.floor(((performance.now() - started) / options.durationMs!) * 100)),
          total: 100,
        };

  if (mode === 'none') return { update() {}, stop() {} };
  if (mode === 'bar') {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          '[{bar}] {percentage}% ({requests}/{planned}) | Successful: {successful} | Failed: {failed} | {rate} req/s',
        barCompleteChar: '#',
        barIncompleteChar: ' ',
        hideCursor: true,
        fps: 10,
      },
      cliProgress.Presets.legacy,
    );
    const payload = (counts: Counts) => ({
      requests: counts.requests,
      planned: total ?? '?',
      successful: counts.successful,
      failed: counts.failed,
      rate: Math.round(counts.requests / Math.max(0.001, (performance.now() - started) / 1000)),
    });
    bar.start(total ?? 100, 0, payload({ requests: 0, successful: 0, failed: 0 } as Counts));
    return {
      update(counts) {
        bar.update(position(counts).value, payload(counts));
      },
      stop(counts) {
        bar.update(total ?? 100, payload(counts));
        bar.stop();
      },
    };
  }
  let last = started;
  const line = (counts: Counts) => {
    const { value, total: of } = position(counts);
    const seconds = (performance.now() - started) / 1000;
    stream.write(
      `progress: ${total !== undefined ? `${value}/${of} requests` : `${counts.requests} requests`} (${Math.floor((value / of) * 100)}%) | successful: ${counts.successful} | failed: ${counts.failed} | ${Math.round(counts.requests / Math.max(0.001, seconds))} req/s\n`,
    );
  };
  return {
    update(counts) {
      const now = performance.now();
      if (now - last >= 1_000) {
        last = now;
        line(counts);
      }
    },
    stop(counts) {
      line(counts);
    },
  };
}
