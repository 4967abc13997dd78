/**
 * The embedded default database: PGlite (PostgreSQL compiled to WebAssembly) served over the
 * Postgres wire protocol, so several order-service processes share one database with nothing
 * installed. PGlite is one session; the socket server multiplexes up to `maxConnections`
 * client connections onto it, one query at a time.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDatabaseOptions {
  readonly host?: string;
  /** 0 (default): a free port chosen by the OS. */
  readonly port?: number;
  /** Client connections served at once (default 64). */
  readonly maxConnections?: number;
  /** A directory to keep the data in; default: in memory, gone at stop. */
  readonly dataDir?: string;
}

export interface EmbeddedDatabase {
  /** `postgres://postgres@host:port/postgres` */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startEmbeddedDatabase(
  options: EmbeddedDatabaseOptions = {},
): Promise<EmbeddedDatabase> {
  const db = await PGlite.create(options.dataDir ?? 'memory://');
  const host = options.host ?? '127.0.0.1';
  const server = new PGLiteSocketServer({
    db,
    host,
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 64,
  });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  const port = Number(server.getServerConn().split(':').at(-1));
  return {
    url: `postgres://postgres@${host.includes(':') ? `[${host}]` : host}:${port}/postgres`,
    port,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
