#!/usr/bin/env node
/**
 * `leasekit-order-service`: reads the environment (see README), starts an embedded PGlite when
 * DATABASE_URL is unset, listens, and closes cleanly on SIGINT/SIGTERM.
 */
import { configFromEnv } from './config.js';
import { type EmbeddedDatabase, startEmbeddedDatabase } from './embedded-database.js';
import { buildServer } from './server.js';

let config: ReturnType<typeof configFromEnv>;
try {
  config = configFromEnv();
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

let embedded: EmbeddedDatabase | undefined;
if (config.databaseUrl === undefined) {
  embedded = await startEmbeddedDatabase();
  config = { ...config, databaseUrl: embedded.url };
  console.error(`embedded PGlite database at ${embedded.url} (set DATABASE_URL to use PostgreSQL)`);
}

const app = buildServer(config);
let closing = false;
const shutdown = async (signal: string) => {
  if (closing) return;
  closing = true;
  app.log.info({ signal }, 'closing');
  await app.close();
  await embedded?.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

try {
  await app.listen({ host: config.host, port: config.port });
} catch (error) {
  app.log.error({ err: error }, 'could not start');
  await app.close().catch(() => {});
  await embedded?.stop();
  process.exit(1);
}
