import type { LeaseBackend } from '@leasekit/core';
import { buildServer, loadConfig } from '@leasekit/lock-service';

export interface RunningService {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The real lock service (apps/lock-service), in process, on a free loopback port, logging
 * nothing. `apiKeys`: tenant → key; none means `--insecure` (tenant `public`). `backend`: the
 * store behind it, which the service closes (default: the one `env` configures, memory unless
 * `LEASEKIT_BACKEND` says otherwise).
 */
export async function startService(
  options: { apiKeys?: Record<string, string>; backend?: LeaseBackend; env?: Record<string, string> } = {},
): Promise<RunningService> {
  const keys = Object.entries(options.apiKeys ?? {});
  const env: Record<string, string> = {
    LEASEKIT_LOG_LEVEL: 'silent',
    LEASEKIT_TOKEN_SECRET: 'client-tests-token-secret-0123456789',
    ...options.env,
  };
  if (keys.length > 0) env.LEASEKIT_API_KEYS = keys.map(([tenant, key]) => `${tenant}:${key}`).join(',');
  const config = loadConfig(env, keys.length > 0 ? [] : ['--insecure']);
  const app = await buildServer(config, options.backend ? { backend: options.backend } : {});
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string')
    throw new Error('the lock service did not listen on a port');
  return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
