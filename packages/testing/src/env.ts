/**
 * Environment variables that point the tests at servers already running (docker compose,
 * CI services) instead of starting them.
 */
export const ENV = {
  /** Comma-separated `redis://host:port` list of independent Redis masters. */
  redis: 'LEASEKIT_REDIS_URLS',
  /** Azurite's blob endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1`. */
  azureBlob: 'LEASEKIT_AZURE_BLOB_URL',
  /** DynamoDB Local's endpoint, e.g. `http://127.0.0.1:8000`. */
  dynamodb: 'LEASEKIT_DYNAMODB_URL',
} as const;

/**
 * Parses a comma-separated list of `redis://` / `rediss://` URLs (blanks ignored). Returns
 * `undefined` when the variable is unset or empty; throws on a malformed entry.
 */
export function parseRedisUrls(
  value: string | undefined,
  variable: string = ENV.redis,
): string[] | undefined {
  if (value === undefined) return undefined;
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) return undefined;
  return entries.map((entry) => {
    parseEnvUrl(variable, entry, ['redis:', 'rediss:'], 'redis://host:port (or rediss://)');
    return entry;
  });
}

/**
 * Parses the URL an environment variable names, with one of `protocols` and a host; the error
 * names the variable and the shape expected.
 */
export function parseEnvUrl(
  variable: string,
  value: string,
  protocols: readonly string[],
  expected: string,
): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `[leasekit] [testing] ${variable}: ${JSON.stringify(value)} is not a URL (expected ${expected})`,
    );
  }
  if (!protocols.includes(url.protocol) || url.hostname === '') {
    throw new Error(`[leasekit] [testing] ${variable}: ${JSON.stringify(value)} must look like ${expected}`);
  }
  return url;
}

/** The Redis servers named by `LEASEKIT_REDIS_URLS`, or `undefined` to start our own. */
export function redisUrlsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  return parseRedisUrls(env[ENV.redis]);
}
