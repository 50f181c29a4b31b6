import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import knex, { type Knex } from 'knex';
import { Logger, runMigrations as runWorkerMigrations } from 'graphile-worker';
import pg from 'pg';
import { projectRoot } from './paths.js';

const quietLogger = new Logger(() => () => {});

/** Folders of sql/ applied by migrate, in this order; sql/checks holds queries, not DDL. */
const SQL_FOLDERS = ['functions', 'staging', 'transform', 'audit'];

/** knex migrations read from migrations/*.sql: plain numbered files, append-only. */
class SqlFileMigrations implements Knex.MigrationSource<string> {
  constructor(private readonly folder: string) {}
  async getMigrations(): Promise<string[]> {
    return readdirSync(this.folder).filter((f) => f.endsWith('.sql')).sort();
  }
  getMigrationName(file: string): string {
    return file;
  }
  async getMigration(file: string): Promise<Knex.Migration> {
    const sql = readFileSync(join(this.folder, file), 'utf8');
    return {
      up: (db: Knex) => db.raw(sql),
      down: () => {
        throw new Error(`${file}: migrations are append-only; write a new one instead of rolling back`);
      },
    };
  }
}

export interface MigrateResult {
  applied: string[];
  sqlFiles: number;
}

/**
 * Brings a database to the current schema: pending migrations (tables), then every file
 * under sql/ (create or replace functions, views, procedures), all in one transaction each.
 */
export async function migrate(databaseUrl: string): Promise<MigrateResult> {
  const root = projectRoot();
  const files = sqlFiles(root);
  const db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } });
  let applied: string[];
  try {
    await db.raw('create schema if not exists etl');
    [, applied] = (await db.migrate.latest({
      migrationSource: new SqlFileMigrations(join(root, 'migrations')),
      schemaName: 'etl',
      tableName: 'schema_migration',
    })) as [number, string[]];
  } finally {
    await db.destroy();
  }
  // graphile-worker's own schema (its job queue), kept by its own migrations
  await runWorkerMigrations({ connectionString: databaseUrl, logger: quietLogger });
  await applySqlFiles(databaseUrl, root, files);
  return { applied, sqlFiles: files.length };
}

async function applySqlFiles(databaseUrl: string, root: string, files: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('begin');
    // One migrate at a time: concurrent create-or-replace of the same function fails.
    await client.query('select pg_advisory_xact_lock(hashtext($1))', ['b2b-etl migrate']);
    for (const file of files) {
      try {
        await client.query(readFileSync(file, 'utf8'));
      } catch (e) {
        const where = (e as { position?: string }).position;
        throw new Error(`${relative(root, file)}${where ? ` (character ${where})` : ''}: ${(e as Error).message}`);
      }
    }
    await client.query('commit');
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  } finally {
    await client.end();
  }
}

function sqlFiles(root: string): string[] {
  const files: string[] = [];
  for (const folder of SQL_FOLDERS) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, 'sql', folder));
    } catch {
      continue;
    }
    for (const name of names.filter((n) => n.endsWith('.sql')).sort()) files.push(join(root, 'sql', folder, name));
  }
  return files;
}
