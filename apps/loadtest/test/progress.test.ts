/** Progress on stderr: a cli-progress bar on a terminal, plain lines otherwise. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type LoadtestOptions, parseOptions } from '../src/options.js';
import { createProgress } from '../src/progress.js';
import type { Counts } from '../src/run.js';

/** A stream that records what is written; `isTTY` as a terminal or a pipe sets it. */
class Capture extends Writable {
  text = '';
  readonly columns = 200;
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

const counts = (successful: number, failed: number): Counts => ({
  requests: successful + failed,
  successful,
  failed,
  statuses: new Map(),
  codes: new Map(),
  instances: new Map(),
  items: new Map(),
});

const options = (extra: string[] = []) =>
  parseOptions(['--batches', '4', '--concurrency', '10', ...extra]) as LoadtestOptions;

describe('progress', () => {
  it('draws a live bar with running successes and failures on a terminal', () => {
    const stream = new Capture(true);
    const progress = createProgress(options(), stream as unknown as NodeJS.WriteStream);
    progress.update(counts(3, 1));
    progress.stop(counts(30, 10));
    expect(stream.text).toMatch(/\[#+ *\] 100% \(40\/40\) \| Successful: 30 \| Failed: 10 \| \d+ req\/s/);
    expect(stream.text).toContain('\x1B['); // drawn in place with terminal escapes
    expect(stream.text).not.toMatch(/^progress:/m);
  });

  it('writes plain lines, no escapes, when stderr is not a terminal', () => {
    const stream = new Capture(false);
    const progress = createProgress(options(), stream as unknown as NodeJS.WriteStream);
    progress.update(counts(3, 1));
    progress.stop(counts(30, 10));
    expect(stream.text).toMatch(
      /^progress: 40\/40 requests \(100%\) \| successful: 30 \| failed: 10 \| \d+ req\/s\n$/m,
    );
    expect(stream.text).not.toContain('\x1B');
  });

  it('follows --progress over the terminal test', () => {
    const none = new Capture(true);
    createProgress(options(['--progress', 'none']), none as unknown as NodeJS.WriteStream).stop(counts(1, 0));
    const lines = new Capture(true);
    createProgress(options(['--progress', 'lines']), lines as unknown as NodeJS.WriteStream).stop(
      counts(1, 0),
    );
    expect(none.text).toBe('');
    expect(lines.text).toMatch(/^progress: 1\/40 requests/);
  });
});
