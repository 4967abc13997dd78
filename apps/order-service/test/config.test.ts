import { describe, expect, it } from 'vitest';
import { configFromEnv, ORDER_SERVICE_ENV } from '../src/config.js';

describe('configFromEnv', () => {
  it('has defaults for everything but the database', () => {
    const config = configFromEnv({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 9090,
      databaseUrl: undefined,
      locking: true,
      lockTtlMs: 2_000,
      lockWaitMs: 5_000,
      lockServiceUrl: 'http://127.0.0.1:8181',
      lockKeyPrefix: 'inventory:',
      seedItems: true,
    });
  });

  it('reads every variable', () => {
    const config = configFromEnv({
      PORT: '0',
      DATABASE_URL: 'postgres://u@db:5432/x',
      LOCKING: 'OFF',
      LOCK_TTL: '250ms',
      LOCK_WAIT: '1000',
      LOCK_SERVICE_API_KEY: 'k',
      INSTANCE_ID: 'a',
      SEED_ITEMS: 'off',
    });
    expect(config).toMatchObject({
      port: 0,
      databaseUrl: 'postgres://u@db:5432/x',
      locking: false,
      lockTtlMs: 250,
      lockWaitMs: 1_000,
      lockServiceApiKey: 'k',
      instance: 'a',
      seedItems: false,
    });
  });

  it('lists every bad variable with what is allowed, in one INVALID_ARGUMENT error', () => {
    let error: unknown;
    try {
      configFromEnv({
        PORT: '70000',
        LOCKING: 'maybe',
        LOCK_TTL: '5 parsecs',
        DATABASE_URL: 'mysql://x',
        LOG_LEVEL: 'loud',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const message = (error as Error).message;
    expect(message).toMatch(/PORT="70000": an integer from 0 to 65535/);
    expect(message).toMatch(/LOCKING="maybe": on or off/);
    expect(message).toMatch(/LOCK_TTL="5 parsecs": a duration/);
    expect(message).toMatch(/DATABASE_URL: a URL starting with postgres:\/\/ or postgresql:\/\//);
    expect(message).toMatch(/LOG_LEVEL="loud"/);
  });

  it('exports the list of variables it reads', () => {
    expect(ORDER_SERVICE_ENV).toEqual(
      expect.arrayContaining([
        'PORT',
        'DATABASE_URL',
        'LOCK_SERVICE_URL',
        'LOCK_SERVICE_API_KEY',
        'LOCKING',
        'LOCK_TTL',
        'LOCK_WAIT',
      ]),
    );
  });
});

it('the README documents every variable', async () => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const name of ORDER_SERVICE_ENV) expect(readme).toContain(`| \`${name}\` |`);
});
