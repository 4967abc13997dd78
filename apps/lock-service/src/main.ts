#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.js';
import { buildServer } from './server.js';

// leasekit-server: reads the environment, listens, and shuts down gracefully on SIGINT/SIGTERM
// (a second signal exits at once).
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env, process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`leasekit-server: invalid configuration: ${error.message}\n`);
  process.exit(2);
}

const app = await buildServer(config);
let closing = false;
const stop = (signal: NodeJS.Signals) => {
  if (closing) {
    app.log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  closing = true;
  app.log.info({ signal }, 'shutting down: finishing in-flight requests; held leases stay in the store');
  app.close().then(
    () => process.exit(0),
    (error: unknown) => {
      app.log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

try {
  await app.listen({ port: config.port, host: config.host });
} catch (error) {
  app.log.error({ err: error }, 'could not listen');
  process.exit(1);
}
