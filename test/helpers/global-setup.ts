import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { databaseUrl, templateDatabase } from './db.js';

let embedded: EmbeddedServer | null = null;

/**
 * One migrated template database per test run; every suite clones it. Without
 * DATABASE_URL the embedded PostgreSQL serves the tests.
 */
export async function setup(): Promise<void> {
  if (!process.env.DATABASE_URL) {
    // EMBEDDED_PG_PORT chooses the port; by default 54339, or a free one when that is taken
    embedded = await startEmbeddedPostgres({ defaultPort: 54339, folder: 'postgres-test', log: (line) => process.stderr.write(`${line}\n`) });
    process.env.DATABASE_URL = embedded.url;
  }
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`tests need PostgreSQL at DATABASE_URL and could not connect: ${(e as Error).message}`);
  }
  try {
    await admin.query(`drop database if exists ${templateDatabase()} with (force)`);
    await admin.query(`create database ${templateDatabase()}`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(templateDatabase()));
}

export async function teardown(): Promise<void> {
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  try {
    await admin.connect();
    await admin.query(`drop database if exists ${templateDatabase()} with (force)`);
  } finally {
    await admin.end().catch(() => {});
    await embedded?.stop();
  }
}
