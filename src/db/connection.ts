import pg from 'pg';
import { ConfigError } from '../config-problems.js';
import { describeServer, mask, maskUrl } from '../secrets.js';
import { startEmbeddedPostgres } from './embedded.js';

export interface Database {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * DATABASE_URL when set; otherwise the embedded PostgreSQL in the project folder. The first
 * connection is made here, so a wrong setting is reported before any work starts.
 */
export async function openDatabase(options: { log?: (line: string) => void; url?: string; poolSize?: number } = {}): Promise<Database> {
  let url = options.url ?? process.env.DATABASE_URL;
  if (url && !URL.canParse(url)) {
    throw new ConfigError('DATABASE_URL is not a URL like postgres://USER@HOST:5432/DATABASE (a password goes after the user and a colon); unset it for the embedded server');
  }
  if (url && !/^(postgres(ql)?|socket):$/.test(new URL(url).protocol)) { // socket: is pg's form for a Unix socket
    throw new ConfigError(`DATABASE_URL is a ${new URL(url).protocol.replace(/:$/, '')}:// URL: give the warehouse's PostgreSQL as postgres://USER@HOST:5432/DATABASE (MYSQL_URL names store A's MySQL)`);
  }
  let stopServer = async () => {};
  const setting = url ? 'DATABASE_URL' : 'the embedded server in .data/postgres; set DATABASE_URL to use another';
  if (!url) {
    const server = await startEmbeddedPostgres({ log: options.log });
    url = server.url;
    stopServer = server.stop;
  }
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 4, application_name: 'b2b-etl' });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (e) => options.log?.(`database connection lost: ${e.message}`));
  pool.on('connect', (client) => client.on('error', (e) => options.log?.(`database connection lost: ${e.message}`)));
  try {
    (await pool.connect()).release();
  } catch (e) {
    await pool.end().catch(() => {});
    await stopServer();
    throw new DatabaseConnectionError(url, setting, e);
  }
  return {
    url,
    pool,
    async close() {
      await pool.end();
      await stopServer();
    },
  };
}

/** The URL with its password masked, for messages. */
export const redactUrl = maskUrl;

/** PostgreSQL did not answer or refused us: names the server tried and the setting to fix. */
export class DatabaseConnectionError extends Error {
  constructor(url: string, setting: string, cause: unknown) {
    const e = cause as { message?: string; code?: string };
    const reason = e.message || e.code || String(cause);
    super(`cannot connect to PostgreSQL at ${describeServer(url, 5432)} (${setting}): ${mask(reason)}`);
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
