import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The migrated template every suite clones: one per test run (the run's main process sets
 * it), so two runs against one server never drop each other's template.
 */
export function templateDatabase(): string {
  process.env.B2B_ETL_TEST_TEMPLATE ??= `b2b_etl_test_template_${process.pid}`;
  return process.env.B2B_ETL_TEST_TEMPLATE;
}

/** The test server's URL with another database name. */
export function databaseUrl(database: string): string {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  /** One row's first column, for short assertions. */
  value<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
  rows<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** A fresh, migrated database cloned from the template; drop() removes it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `b2b_etl_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${templateDatabase()}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 12 });
  // a connection dropped while idle (the database is dropped at the end) must not crash the run
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return {
    url,
    pool,
    async value<T>(sql: string, params: unknown[] = []) {
      const { rows } = await pool.query(sql, params);
      return Object.values(rows[0] ?? {})[0] as T;
    },
    async rows<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      return (await pool.query<T>(sql, params)).rows;
    },
    async drop() {
      await pool.end();
      const cleanup = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await cleanup.connect();
      try {
        await cleanup.query(`drop database if exists ${name} with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}
