import pg from 'pg';
import { startEmbeddedPostgres } from './embedded.js';

export interface Database {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL in the project folder. */
export async function openDatabase(options: { log?: (line: string) => void; url?: string; poolSize?: number } = {}): Promise<Database> {
  let url = options.url ?? process.env.DATABASE_URL;
  let stopServer = async () => {};
  if (!url) {
    const server = await startEmbeddedPostgres({ log: options.log });
    url = server.url;
    stopServer = server.stop;
  }
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 4, application_name: 'b2b-etl' });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (e) => options.log?.(`database connection lost: ${e.message}`));
  pool.on('connect', (client) => client.on('error', (e) => options.log?.(`database connection lost: ${e.message}`)));
  return {
    url,
    pool,
    async close() {
      await pool.end();
      await stopServer();
    },
  };
}

/** The URL with any password replaced, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** Runs fn inside one transaction on one client; rolls back on any error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
