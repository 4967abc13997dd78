import { describe, expect, it } from 'vitest';
import { ConfigError, parseCommand, parseRun, parseSeed } from '../src/index.js';
import { markedIndexes } from '../src/seed.js';

// Bad input is refused before any I/O with a message naming the option and what it accepts.

const env = { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' };

function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('run and seed arguments', () => {
  it('run: defaults, and each option parsed', () => {
    expect(parseRun([], env)).toMatchObject({
      backend: 'azure',
      lease: true,
      fencing: true,
      ttlMs: 15_000,
      transform: 'gzip',
      maxAttempts: 3,
      storage: { input: 'blobs-in', output: 'blobs-out' },
    });
    expect(
      parseRun(
        ['--backend', 'redis', '--redis-urls', 'redis://a:1, redis://b:2', '--ttl', '2s', '--no-lease'],
        env,
      ),
    ).toMatchObject({
      backend: 'redis',
      redisUrls: ['redis://a:1', 'redis://b:2'],
      ttlMs: 2000,
      lease: false,
    });
  });

  it.each([
    [['--backend', 'etcd'], /--backend must be one of azure, redis, dynamodb; got "etcd"/],
    [['--ttl', '10s'], /--ttl must be whole seconds from 15s to 60s with --backend azure/],
    [['--ttl', 'soon'], /--ttl must be a duration such as 500ms, 15s or 1m/],
    [['--max-attempts', '0'], /--max-attempts must be a whole number from 1 to 100; got "0"/],
    [['--transform', 'zstd'], /--transform must be one of gzip, identity/],
    [['--backend', 'redis'], /--backend redis needs --redis-urls/],
    [
      ['--backend', 'redis', '--redis-urls', 'http://x'],
      /--redis-urls must be redis:\/\/ or rediss:\/\/ URLs/,
    ],
    [['--input', 'Bad_Name'], /--input must be a container name \(3 to 63 lowercase/],
    [['--input', 'same', '--output', 'same'], /--input and --output must be different containers/],
    [['--worker-id', 'a b'], /--worker-id must be 1 to 64 letters/],
    [['--bogus'], /run: Unknown option '--bogus'/],
  ])('run %j is refused', (args, message) => {
    expect(refusal(() => parseRun(args, env))).toMatch(message);
  });

  it('run without a connection string names the variable', () => {
    expect(refusal(() => parseRun([], {}))).toMatch(
      /set AZURE_STORAGE_CONNECTION_STRING or pass --connection-string/,
    );
  });

  it('seed: sizes, poison and crashing blobs', () => {
    expect(
      parseSeed(['--count', '10', '--size', '1KiB..2KiB', '--failing', '2', '--crashing', '3'], env),
    ).toMatchObject({ count: 10, minBytes: 1024, maxBytes: 2048, failing: 2, crashing: 3 });
    expect(refusal(() => parseSeed(['--count', '4', '--failing', '3', '--crashing', '2'], env))).toMatch(
      /--crashing must be a whole number from 0 to 1; got "2"/,
    );
    expect(refusal(() => parseSeed(['--size', '4 parsecs'], env))).toMatch(
      /--size must be a size such as 4096/,
    );
    expect(refusal(() => parseSeed(['--size', '2KiB..1KiB'], env))).toMatch(/from small to large/);
    expect(refusal(() => parseCommand(['serve'], env))).toMatch(
      /unknown command "serve": use run, seed or demo/,
    );
  });

  it('marked blobs are spread through the list, poison and crashing taking turns', () => {
    const marked = markedIndexes(10, 2, 3);
    expect([...marked]).toEqual([
      [0, 'poison'],
      [2, 'crash'],
      [4, 'poison'],
      [6, 'crash'],
      [8, 'crash'],
    ]);
    expect([...markedIndexes(12, 1, 1)]).toEqual([
      [0, 'poison'],
      [6, 'crash'],
    ]);
    expect(markedIndexes(5, 0, 0).size).toBe(0);
  });
});
