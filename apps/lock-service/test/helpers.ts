import type { AnyBackend } from '@leasekit/core';
import type { FastifyInstance } from 'fastify';
import { Agent, request as send } from 'undici';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';

export const KEYS = { alpha: 'alpha-key-0123456789abcdef', beta: 'beta-key-0123456789abcdef0' };
export const API_KEYS = `alpha:${KEYS.alpha},beta:${KEYS.beta}`;

export interface Service {
  readonly app: FastifyInstance;
  readonly url: string;
  close(): Promise<void>;
}

/** A service on a free loopback port, logging nothing, with the given environment. */
export async function startService(
  env: Record<string, string> = {},
  options: { backend?: AnyBackend; argv?: string[] } = {},
): Promise<Service> {
  const config = loadConfig(
    {
      LEASEKIT_API_KEYS: API_KEYS,
      LEASEKIT_LOG_LEVEL: 'silent',
      LEASEKIT_TOKEN_SECRET: 'x'.repeat(32),
      ...env,
    },
    options.argv ?? [],
  );
  const app = await buildServer(config, options.backend ? { backend: options.backend } : {});
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/** One keep-alive pool for the tests' requests. */
export const agent: Agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 10_000 });

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The parsed body, or `undefined` when not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: JSON of any shape, read by the tests' assertions
  readonly body: any;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: {
    headers?: Record<string, string>;
    body?: unknown;
    raw?: string;
    tenant?: keyof typeof KEYS | null;
    signal?: AbortSignal;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const tenant = options.tenant === undefined ? 'alpha' : options.tenant;
  if (tenant !== null) headers.authorization = `Bearer ${KEYS[tenant]}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  Object.assign(headers, options.headers);
  const response = await send(`${base}${path}`, {
    method: method as 'GET',
    headers,
    ...(body === undefined ? {} : { body }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    dispatcher: agent,
  });
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text, body: parsed };
}

/** Asserts a problem+json answer and returns its body. */
// biome-ignore lint/suspicious/noExplicitAny: JSON of any shape, read by the tests' assertions
export function problem(answer: Answer, status: number, code: string): any {
  if (
    answer.status !== status ||
    !String(answer.headers['content-type']).startsWith('application/problem+json')
  ) {
    throw new Error(
      `expected ${status} problem+json ${code}, got ${answer.status} ${answer.headers['content-type']}: ${answer.text}`,
    );
  }
  if (answer.body?.code !== code) throw new Error(`expected code ${code}, got ${answer.text}`);
  return answer.body;
}

/** The value of an unlabelled metric, or of one series (`name{label="value"}`); 0 when absent. */
export async function metricValue(base: string, series: string): Promise<number> {
  const metrics = await call(base, 'GET', '/metrics', { tenant: null });
  const line = metrics.text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Resolves once `count` acquires wait on the server (its `leasekit_acquires_waiting` gauge). */
export async function waitersOn(base: string, count: number): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    const metrics = await call(base, 'GET', '/metrics', { tenant: null });
    const match = /^leasekit_acquires_waiting (\d+)/m.exec(metrics.text);
    if (match && Number(match[1]) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no ${count} waiting acquires on ${base}`);
}
