import { describe, expect, it } from 'vitest';
import { parseDuration, parseOptions, USAGE } from '../src/options.js';

describe('parseOptions', () => {
  it("defaults to the seed's run: 200 batches of 20 orders of item1, 0.1 s apart", () => {
    expect(parseOptions([])).toEqual({
      urls: ['http://127.0.0.1:9090'],
      batches: 200,
      concurrency: 20,
      items: ['item1'],
      quantity: 1,
      pauseMs: 100,
      durationMs: undefined,
      timeoutMs: 10_000,
      log: 'responses.log',
      json: false,
      check: true,
      progress: 'auto',
    });
  });

  it('reads every option; several URLs repeat or are comma-separated', () => {
    expect(
      parseOptions([
        '--url',
        'http://a:1,http://b:2',
        '--url',
        'http://c:3/prefix',
        '--batches',
        '5',
        '--concurrency',
        '50',
        '--items',
        'item1, item2',
        '--quantity',
        '3',
        '--pause',
        '250ms',
        '--duration',
        '2m',
        '--timeout',
        '1.5s',
        '--log',
        '-',
        '--json',
        '--no-check',
        '--progress',
        'lines',
      ]),
    ).toEqual({
      urls: ['http://a:1', 'http://b:2', 'http://c:3/prefix'],
      batches: 5,
      concurrency: 50,
      items: ['item1', 'item2'],
      quantity: 3,
      pauseMs: 250,
      durationMs: 120_000,
      timeoutMs: 1_500,
      log: undefined,
      json: true,
      check: false,
      progress: 'lines',
    });
  });

  it('runs unlimited batches when only --duration is given', () => {
    expect(parseOptions(['--duration', '10s'])).toMatchObject({
      batches: Number.POSITIVE_INFINITY,
      durationMs: 10_000,
    });
  });

  it('answers help', () => {
    expect(parseOptions(['--help'])).toBe('help');
    for (const option of [
      '--url',
      '--batches',
      '--concurrency',
      '--items',
      '--quantity',
      '--pause',
      '--duration',
      '--json',
    ]) {
      expect(USAGE).toContain(option);
    }
    expect(USAGE).toMatch(/--batches N .*default 200/);
    expect(USAGE).toMatch(/--concurrency N .*default 20/);
    expect(USAGE).toMatch(/--pause DURATION .*default 0\.1s/);
  });

  it.each([
    [['--batches', '0'], /--batches "0": an integer from 1 to/],
    [['--concurrency', 'many'], /--concurrency "many": an integer/],
    [['--quantity', '1.5'], /--quantity "1.5": an integer/],
    [['--pause', 'soon'], /--pause "soon": a duration such as 100ms/],
    [['--url', 'ftp://x'], /--url "ftp:\/\/x": an http:\/\/ or https:\/\/ URL/],
    [['--items', 'a/b'], /--items: "a\/b" is not an item name/],
    [['--progress', 'fancy'], /--progress "fancy": auto, bar, lines or none/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('refuses %j with a message naming what is allowed', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(message);
  });
});

describe('parseDuration', () => {
  it("takes the seed's plain seconds and unit suffixes", () => {
    expect(parseDuration('0.1', 'pause')).toBe(100);
    expect(parseDuration('100ms', 'pause')).toBe(100);
    expect(parseDuration('2s', 'pause')).toBe(2_000);
    expect(parseDuration('1m', 'pause')).toBe(60_000);
    expect(parseDuration('0', 'pause')).toBe(0);
  });
});
