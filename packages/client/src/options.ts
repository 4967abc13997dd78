import { type Duration, InvalidArgumentError, toMs } from '@leasekit/core';
import type { Dispatcher } from 'undici';

/** Options shared by `createHttpBackend` and `createLockClient`: where the service is and how to reach it. */
export interface ConnectionOptions {
  /** The lock service's address, `http://` or `https://`, optionally with a path prefix (`https://host/locks-api`). */
  readonly baseUrl: string | URL;
  /** Sent as `Authorization: Bearer <apiKey>`. Omit only for a service started with `--insecure`. */
  readonly apiKey?: string | undefined;
  /**
   * How long the service may take to answer, on top of any server-side wait the request asked
   * for. Default `'5s'`. Also the connect timeout.
   */
  readonly timeout?: Duration | undefined;
  /**
   * Most sockets kept open to the service (keep-alive). Default 64. A request waiting on the
   * server holds one for its wait; others queue behind it when all are busy.
   */
  readonly connections?: number | undefined;
  /**
   * An undici dispatcher (`Pool`, `Agent`, a `ProxyAgent`...) to send requests through instead of
   * the client's own pool. The caller owns it: `close()` does not close it. Excludes `connections`.
   */
  readonly dispatcher?: Dispatcher | undefined;
}

export interface ResolvedConnection {
  readonly origin: string;
  /** Path prefix without a trailing slash: `''` or `/locks-api`. */
  readonly basePath: string;
  readonly authorization: string | undefined;
  readonly timeoutMs: number;
  readonly connections: number;
  readonly dispatcher: Dispatcher | undefined;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_CONNECTIONS = 64;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Validates the connection options before any I/O; errors name the option and what is allowed. */
export function resolveConnection(options: ConnectionOptions, factory: string): ResolvedConnection {
  const fail = (detail: string) =>
    new InvalidArgumentError(`${factory}: ${detail}`, { operation: 'configure' });
  if (typeof options !== 'object' || options === null) throw fail('options must be an object with a baseUrl');

  let url: URL;
  try {
    url = options.baseUrl instanceof URL ? options.baseUrl : new URL(String(options.baseUrl));
  } catch {
    throw fail(`baseUrl must be an absolute http:// or https:// URL; got ${JSON.stringify(options.baseUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fail(`baseUrl must be an http:// or https:// URL; got ${JSON.stringify(url.href)}`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw fail(
      `baseUrl must not carry a query, fragment or credentials (pass the key as apiKey); got ${JSON.stringify(url.href)}`,
    );
  }

  const { apiKey } = options;
  if (apiKey !== undefined && (typeof apiKey !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(apiKey))) {
    throw fail('apiKey must be a non-empty string of printable ASCII characters without spaces');
  }

  const timeoutMs =
    options.timeout === undefined
      ? DEFAULT_TIMEOUT_MS
      : toMs(options.timeout, `${factory}: timeout`, { error: { operation: 'configure' } });
  if (!(timeoutMs > 0) || timeoutMs > MAX_TIMEOUT_MS) {
    throw fail(
      `timeout must be a positive duration of at most ${MAX_TIMEOUT_MS} ms; got ${String(options.timeout)}`,
    );
  }

  if (options.dispatcher !== undefined && options.connections !== undefined) {
    throw fail(
      'pass either dispatcher or connections, not both (connections sizes the pool the client creates)',
    );
  }
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  if (!Number.isInteger(connections) || connections < 1 || connections > 65_536) {
    throw fail(`connections must be a whole number from 1 to 65536; got ${String(options.connections)}`);
  }
  const { dispatcher } = options;
  if (
    dispatcher !== undefined &&
    (typeof dispatcher !== 'object' || typeof dispatcher?.request !== 'function')
  ) {
    throw fail('dispatcher must be an undici Dispatcher (Pool, Agent, ...)');
  }

  return {
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    authorization: apiKey === undefined ? undefined : `Bearer ${apiKey}`,
    timeoutMs,
    connections,
    dispatcher,
  };
}

/** Checks a duration option of a call: a finite number of ms ≥ 0 (or a string like `'30s'`). */
export function durationMs(value: Duration, what: string, operation: string, key?: string): number {
  return toMs(value, what, { error: { backend: 'http', operation, key } });
}
