import { ClosedError } from '@leasekit/core';
import { type Dispatcher, Pool } from 'undici';
import { type ErrorContext, HttpProblemError, networkError, type Problem } from './errors.js';
import type { ResolvedConnection } from './options.js';

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Route path below the base path, already encoded: `/v1/locks/orders%3A42`. */
  readonly path: string;
  readonly headers?: Record<string, string> | undefined;
  readonly body?: unknown;
  /** A server-side wait the request asked for: added to the time allowed for the answer. */
  readonly waitMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Abort the request when the transport closes (a waiting acquire), instead of letting it finish. */
  readonly abortOnClose?: boolean | undefined;
}

export interface HttpAnswer {
  readonly status: number;
  /** Parsed JSON body (problem bodies included), or `undefined` when there was none. */
  readonly body: unknown;
  /** `Retry-After`, in ms, when the service sent one. */
  readonly retryAfterMs: number | undefined;
}

/**
 * One keep-alive connection pool to the service. Turns every failure to get an answer into a
 * retryable `BackendUnavailableError` with undici's error as `cause`; every answer, whatever its
 * status, is returned for the caller to interpret.
 */
export class Transport {
  readonly #connection: ResolvedConnection;
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;

  constructor(connection: ResolvedConnection) {
    this.#connection = connection;
    this.#owned = connection.dispatcher === undefined;
    this.#dispatcher =
      connection.dispatcher ??
      new Pool(connection.origin, {
        connections: connection.connections,
        connect: { timeout: connection.timeoutMs },
        // The service's keep-alive is longer than this: the client closes idle sockets first,
        // so it never sends on a socket the server is closing.
        keepAliveTimeout: 4_000,
      });
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  async send(request: HttpRequest, context: ErrorContext): Promise<HttpAnswer> {
    if (this.#closed) throw new ClosedError('the client is closed', context);
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (this.#connection.authorization) headers.authorization = this.#connection.authorization;
    let body: string | null = null;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, request.headers);
    const signals = [request.signal, request.abortOnClose ? this.#closing.signal : undefined].filter(
      (signal): signal is AbortSignal => signal !== undefined,
    );
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const timeoutMs = this.#connection.timeoutMs;
    try {
      const response = await this.#dispatcher.request({
        origin: this.#connection.origin,
        method: request.method,
        path: this.#connection.basePath + request.path,
        headers,
        body,
        headersTimeout: timeoutMs + (request.waitMs ?? 0),
        bodyTimeout: timeoutMs,
        ...(signal ? { signal } : {}),
      });
      const text = await response.body.text();
      return {
        status: response.statusCode,
        body: parseBody(text, response.headers['content-type']),
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      };
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      if (this.#closing.signal.aborted)
        throw new ClosedError('the client was closed during the request', context);
      throw networkError(error, context);
    }
  }

  /** Aborts waiting requests, lets the others finish, then closes the sockets (only a pool it created). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      if (this.#owned) await this.#dispatcher.close();
    })();
    return this.#closed;
  }
}

function parseBody(text: string, contentType: string | string[] | undefined): unknown {
  if (text === '') return undefined;
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  if (type && !/json/i.test(type)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The answer as a `cause`: its status, problem body and `Retry-After`. */
export function problemOf(answer: HttpAnswer): HttpProblemError {
  const body = answer.body;
  const problem = typeof body === 'object' && body !== null ? (body as Problem) : undefined;
  return new HttpProblemError(answer.status, problem, answer.retryAfterMs);
}

/** `/v1/locks/{key}` with the key encoded (keys are URL-safe, but a caller may pass anything). */
export function lockPath(key: string, suffix = ''): string {
  return `/v1/locks/${encodeURIComponent(key)}${suffix}`;
}
