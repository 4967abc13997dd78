#!/usr/bin/env node
/**
 * `leasekit-pglite-server [--port N] [--host H] [--max-connections N] [--data-dir DIR]`: the
 * embedded database on its own, shared by several order-service processes. Prints one line,
 * `postgres://postgres@HOST:PORT/postgres`, on stdout once it accepts connections.
 */
import { parseArgs } from 'node:util';
import { startEmbeddedDatabase } from './embedded-database.js';

let values: { port?: string; host?: string; 'max-connections'?: string; 'data-dir'?: string };
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'max-connections': { type: 'string', default: '64' },
      'data-dir': { type: 'string' },
    },
  }));
} catch (error) {
  console.error(
    `${(error as Error).message}\nusage: leasekit-pglite-server [--port N] [--host H] [--max-connections N] [--data-dir DIR]`,
  );
  process.exit(2);
}
const port = Number(values.port);
const maxConnections = Number(values['max-connections']);
if (
  !Number.isInteger(port) ||
  port < 0 ||
  port > 65_535 ||
  !Number.isInteger(maxConnections) ||
  maxConnections < 1
) {
  console.error('--port: an integer from 0 to 65535; --max-connections: a positive integer');
  process.exit(2);
}
const database = await startEmbeddedDatabase({
  port,
  maxConnections,
  ...(values.host === undefined ? {} : { host: values.host }),
  ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
});
console.log(database.url);
const stop = () => void database.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
