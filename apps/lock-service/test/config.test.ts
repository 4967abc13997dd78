import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/config.js';
import { formatGoDuration, parseGoDuration } from '../src/durations.js';

const keys = { LEASEKIT_API_KEYS: 'acme:0123456789abcdef0123' };
const secret = { LEASEKIT_TOKEN_SECRET: 's'.repeat(32) };

function refusal(env: Record<string, string>, argv: string[] = []): ConfigError {
  try {
    loadConfig(env, argv);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('configuration', () => {
  it('has defaults for development: memory backend, seed routes on, port 8080', () => {
    const config = loadConfig(keys);
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      insecure: false,
      seedRoutes: true,
      logLevel: 'info',
    });
    expect(config.backend).toEqual({ kind: 'memory' });
    expect(config.apiKeys.get('0123456789abcdef0123')).toBe('acme');
    expect(config.tokenSecretGenerated).toBe(true);
  });

  it('draws a random token secret per process on the memory backend unless LEASEKIT_TOKEN_SECRET is set', () => {
    const first = loadConfig(keys).tokenSecret;
    expect(first.length).toBeGreaterThanOrEqual(32);
    // Not derived from the API keys: the same keys give another secret in another process.
    expect(loadConfig(keys).tokenSecret).not.toBe(first);
    expect(loadConfig({}, ['--insecure'])).toMatchObject({ tokenSecretGenerated: true });
    const explicit = loadConfig({ ...keys, LEASEKIT_TOKEN_SECRET: 's'.repeat(32) });
    expect(explicit).toMatchObject({ tokenSecret: 's'.repeat(32), tokenSecretGenerated: false });
  });

  it.each([
    [{ LEASEKIT_BACKEND: 'redis', LEASEKIT_REDIS_URLS: 'redis://a:1' }],
    [{ LEASEKIT_BACKEND: 'azure-blob', LEASEKIT_AZURE_CONNECTION_STRING: 'UseDevelopmentStorage=true' }],
    [{ LEASEKIT_BACKEND: 'dynamodb', LEASEKIT_DYNAMODB_TABLE: 'locks' }],
  ])('requires LEASEKIT_TOKEN_SECRET over a shared store (%o), saying why', (backend) => {
    const error = refusal({ ...keys, ...backend });
    expect(error.variable).toBe('LEASEKIT_TOKEN_SECRET');
    expect(error.message).toMatch(
      new RegExp(
        `LEASEKIT_TOKEN_SECRET: is required with LEASEKIT_BACKEND=${backend.LEASEKIT_BACKEND}: every instance`,
      ),
    );
    expect(error.message).toMatch(/API keys change/);
    expect(refusal({ ...backend }, ['--insecure']).variable).toBe('LEASEKIT_TOKEN_SECRET');
    expect(loadConfig({ ...keys, ...backend, LEASEKIT_TOKEN_SECRET: 't'.repeat(32) }).tokenSecret).toBe(
      't'.repeat(32),
    );
  });

  it('reads every backend', () => {
    expect(
      loadConfig({
        ...keys,
        ...secret,
        LEASEKIT_BACKEND: 'redis',
        LEASEKIT_REDIS_URLS: 'redis://a:1, redis://b:2,rediss://c:3',
      }).backend,
    ).toEqual({ kind: 'redis', urls: ['redis://a:1', 'redis://b:2', 'rediss://c:3'], prefix: 'leasekit:' });
    expect(
      loadConfig({
        ...keys,
        ...secret,
        LEASEKIT_BACKEND: 'azure-blob',
        LEASEKIT_AZURE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      }).backend,
    ).toEqual({
      kind: 'azure-blob',
      connectionString: 'UseDevelopmentStorage=true',
      container: 'leasekit-locks',
    });
    expect(
      loadConfig({
        ...keys,
        ...secret,
        LEASEKIT_BACKEND: 'dynamodb',
        LEASEKIT_DYNAMODB_TABLE: 'locks',
        LEASEKIT_DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      }).backend,
    ).toEqual({
      kind: 'dynamodb',
      table: 'locks',
      endpoint: 'http://127.0.0.1:8000',
      region: 'us-east-1',
      createTable: false,
    });
  });

  it('names the bad variable and what it allows', () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ PORT: 'eighty' }, 'PORT', /0 to 65535/],
      [{ PORT: '70000' }, 'PORT', /0 to 65535/],
      [{ LEASEKIT_BACKEND: 'etcd' }, 'LEASEKIT_BACKEND', /memory, redis, azure-blob, dynamodb/],
      [{ LEASEKIT_BACKEND: 'redis' }, 'LEASEKIT_REDIS_URLS', /required with LEASEKIT_BACKEND=redis/],
      [{ LEASEKIT_BACKEND: 'redis', LEASEKIT_REDIS_URLS: 'http://x:1' }, 'LEASEKIT_REDIS_URLS', /redis:\/\//],
      [{ LEASEKIT_BACKEND: 'azure-blob' }, 'LEASEKIT_AZURE_CONNECTION_STRING', /required/],
      [{ LEASEKIT_BACKEND: 'dynamodb' }, 'LEASEKIT_DYNAMODB_TABLE', /required/],
      [
        { LEASEKIT_BACKEND: 'dynamodb', LEASEKIT_DYNAMODB_TABLE: 't', LEASEKIT_DYNAMODB_ENDPOINT: 'nope' },
        'LEASEKIT_DYNAMODB_ENDPOINT',
        /http/,
      ],
      [{ LEASEKIT_API_KEYS: 'acme' }, 'LEASEKIT_API_KEYS', /tenant:key/],
      [{ LEASEKIT_API_KEYS: 'acme:short' }, 'LEASEKIT_API_KEYS', /16-256/],
      [{ LEASEKIT_API_KEYS: 'a/b:0123456789abcdef0123' }, 'LEASEKIT_API_KEYS', /tenant/],
      [
        { LEASEKIT_API_KEYS: 'a:0123456789abcdef0123,b:0123456789abcdef0123' },
        'LEASEKIT_API_KEYS',
        /repeats/,
      ],
      [{ LEASEKIT_TOKEN_SECRET: 'short' }, 'LEASEKIT_TOKEN_SECRET', /at least 32/],
      [{ LEASEKIT_SEED_ROUTES: 'maybe' }, 'LEASEKIT_SEED_ROUTES', /on or off/],
      [{ LEASEKIT_LOG_LEVEL: 'loud' }, 'LEASEKIT_LOG_LEVEL', /info/],
      [{ LEASEKIT_INSECURE: 'perhaps' }, 'LEASEKIT_INSECURE', /1\/true/],
    ];
    for (const [env, variable, allowed] of cases) {
      const error = refusal({ ...keys, ...env });
      expect(error.variable, JSON.stringify(env)).toBe(variable);
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(variable);
      expect(error.message).toMatch(allowed);
    }
    expect(refusal(keys, ['--verbose']).message).toMatch(/--insecure/);
  });

  it('refuses to start without API keys unless explicitly insecure', () => {
    const error = refusal({});
    expect(error.variable).toBe('LEASEKIT_API_KEYS');
    expect(error.message).toMatch(/--insecure/);
    expect(loadConfig({}, ['--insecure']).insecure).toBe(true);
    expect(loadConfig({ LEASEKIT_INSECURE: '1' }).insecure).toBe(true);
    // Keys configured: authentication stays on whatever the flag says.
    expect(loadConfig(keys, ['--insecure']).insecure).toBe(false);
  });

  it('lists every variable it reads, and the README documents each', () => {
    const source = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8');
    const read = new Set(
      [...source.matchAll(/'((?:LEASEKIT_[A-Z_]+)|PORT|HOST)'/g)].map((match) => match[1]),
    );
    const listed = CONFIG_VARIABLES.map((variable) => variable.name);
    expect(new Set(listed)).toEqual(read);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of listed) expect(readme, name).toContain(`\`${name}\``);
  });
});

describe('Go durations (seed routes)', () => {
  it('parses what time.ParseDuration accepts', () => {
    expect(parseGoDuration('10s')).toBe(10_000);
    expect(parseGoDuration('50ms')).toBe(50);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('1500us')).toBe(1.5);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['', '10', 's', '-1s', '1d', '1s2', 'ten'])
      expect(parseGoDuration(bad), bad).toBeUndefined();
  });

  it('formats as time.Duration.String()', () => {
    expect(formatGoDuration(10_000)).toBe('10s');
    expect(formatGoDuration(90_000)).toBe('1m30s');
    expect(formatGoDuration(50)).toBe('50ms');
    expect(formatGoDuration(3_600_000)).toBe('1h0m0s');
    expect(formatGoDuration(9_873)).toBe('9.873s');
    expect(formatGoDuration(0)).toBe('0s');
  });
});

describe('the compose file', () => {
  const compose = new URL('../../../docker-compose.yml', import.meta.url);
  const text = existsSync(compose) ? readFileSync(compose, 'utf8') : '';
  const block = /environment: &lock-service-env\n((?: {4}.*\n)+)/.exec(text)?.[1];

  it.skipIf(block === undefined)('sets only variables the service reads, to values it accepts', () => {
    const env: Record<string, string> = {};
    for (const line of block!.split('\n')) {
      const match = /^ {4}([A-Z_]+): (.*)$/.exec(line);
      if (match) env[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
    }
    const known = new Set(CONFIG_VARIABLES.map((variable) => variable.name));
    expect(Object.keys(env).length).toBeGreaterThan(0);
    for (const name of Object.keys(env)) expect(known, name).toContain(name);
    expect(() => loadConfig(env)).not.toThrow();
  });
});
