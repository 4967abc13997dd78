import { describe, expect, it } from 'vitest';
import type { Measurement } from '../src/measure.js';
import { mergeResults, RESULTS_END, RESULTS_START } from '../src/report.js';
import { isDisturbed } from '../src/runner.js';
import { median, percentile, ratio, rotate, SampleBuffer, seededRandom, summarize } from '../src/stats.js';

describe('percentile (nearest rank)', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100

  it('picks the smallest value with at least p% at or below it', () => {
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 51)).toBe(30);
  });

  it('handles one value and no values', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('rejects a percentile outside 0..100', () => {
    expect(() => percentile(sorted, 101)).toThrow(RangeError);
    expect(() => percentile(sorted, Number.NaN)).toThrow(RangeError);
  });
});

describe('median', () => {
  it('takes the middle value of an odd count, in any order', () => {
    expect(median([5, 1, 3])).toBe(3);
  });

  it('averages the two middle values of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('does not reorder its input, and is NaN for none', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
    expect(median([])).toBeNaN();
  });
});

describe('rotate', () => {
  it('rotates left by the round number, wrapping around', () => {
    expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 2)).toEqual(['c', 'a', 'b']);
    expect(rotate(['a', 'b', 'c'], 3)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], -1)).toEqual(['c', 'a', 'b']);
    expect(rotate([], 4)).toEqual([]);
  });

  it('puts every contender first once in as many rounds as there are contenders', () => {
    const contenders = ['leasekit', 'floor', 'peer-a', 'peer-b'];
    const firsts = contenders.map((_, round) => rotate(contenders, round)[0]);
    expect(new Set(firsts)).toEqual(new Set(contenders));
  });
});

describe('summarize and SampleBuffer', () => {
  it('summarizes samples collected past the initial capacity', () => {
    const buffer = new SampleBuffer(16);
    for (let i = 1000; i >= 1; i--) buffer.push(i);
    expect(buffer.length).toBe(1000);
    const summary = summarize(buffer.toArray());
    expect(summary).toEqual({ count: 1000, mean: 500.5, p50: 500, p99: 990, max: 1000 });
  });

  it('is NaN-valued for no samples', () => {
    const summary = summarize(new Float64Array(0));
    expect(summary.count).toBe(0);
    expect(summary.p99).toBeNaN();
  });
});

describe('seededRandom and ratio', () => {
  it('gives the same stream for the same seed, within [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const values = Array.from({ length: 1000 }, () => a());
    expect(values).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(seededRandom(43)()).not.toBe(values[0]);
  });

  it('divides, and is NaN when the reference is not positive', () => {
    expect(ratio(50, 200)).toBe(0.25);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
  });
});

describe('mergeResults', () => {
  const block = (id: string, text: string) =>
    `<!-- bench:scenario ${id} -->\n${text}\n<!-- /bench:scenario ${id} -->`;
  const readme = `# bench\n\nmethod text\n\n${RESULTS_START}\n${block('a/x', 'old x')}\n\n${block('b/y', 'old y')}\n${RESULTS_END}\n\ntail\n`;

  it('replaces the blocks that ran, keeps the others and the text around the markers', () => {
    const merged = mergeResults(
      readme,
      new Map([['b/y', { markdown: block('b/y', 'new y'), skipped: false }]]),
      ['a/x', 'b/y'],
    );
    expect(merged).toContain('method text');
    expect(merged).toContain('old x');
    expect(merged).toContain('new y');
    expect(merged).not.toContain('old y');
    expect(merged.endsWith(`${RESULTS_END}\n\ntail\n`)).toBe(true);
    expect(merged.indexOf('old x')).toBeLessThan(merged.indexOf('new y'));
  });

  it('keeps an earlier result when the scenario was skipped this time', () => {
    const merged = mergeResults(
      readme,
      new Map([['a/x', { markdown: block('a/x', 'skipped'), skipped: true }]]),
      [],
    );
    expect(merged).toContain('old x');
    expect(merged).not.toContain('skipped');
  });

  it('is stable: merging the same blocks twice gives the same text', () => {
    const blocks = new Map([['a/x', { markdown: block('a/x', 'x2'), skipped: false }]]);
    const once = mergeResults(readme, blocks, ['a/x', 'b/y']);
    expect(mergeResults(once, blocks, ['a/x', 'b/y'])).toBe(once);
  });

  it('adds a results section when the markers are missing', () => {
    const merged = mergeResults(
      '# bench\n',
      new Map([['a/x', { markdown: block('a/x', 'x'), skipped: false }]]),
      [],
    );
    expect(merged).toContain(RESULTS_START);
    expect(merged).toContain('x');
  });
});

describe('isDisturbed', () => {
  const base = { cpuWait: 0, otherCpu: 0 } as unknown as Measurement;
  it('needs both a wait for the CPU and other processes on the client core', () => {
    expect(isDisturbed({ ...base, cpuWait: 0.2, otherCpu: 0.01 })).toBe(false); // the bench's own GC threads
    expect(isDisturbed({ ...base, cpuWait: 0.01, otherCpu: 0.8 })).toBe(false); // others ran while the bench idled
    expect(isDisturbed({ ...base, cpuWait: 0.2, otherCpu: 0.3 })).toBe(true);
    expect(isDisturbed({ ...base, cpuWait: undefined, otherCpu: undefined })).toBe(false);
  });
});
