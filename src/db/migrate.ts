import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Logger, runMigrations as runWorkerMigrations } from 'graphile-worker';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { DatabaseConnectionError } from './connection.js';
import { projectRoot } from './paths.js';

const quietLogger = new Logger(() => () => {});

/**
 * Folders of sql/ applied by migrate, in this order; sql/checks holds queries, not DDL.
 * grants stays last: it grants on every view and table the others created.
 */
const SQL_FOLDERS = ['functions', 'staging', 'transform', 'crm', 'audit', 'analytics', 'grants'];

/** One migrate at a time per database: two would apply a migration twice, or race on create-or-replace. */
const LOCK = 'b2b-etl migrate';

/** A migration the database and migrations/ disagree about, or one that failed: nothing more was done. */
export class MigrationError extends Error {}

export interface Migration {
  name: string;
  sql: string;
  /** sha256 of the file with line endings normalised, so a Windows checkout reads the same. */
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  /** Migrations applied before checksums were kept, whose checksum this run recorded. */
  checksumsRecorded: string[];
  sqlFiles: number;
}

/** migrations/*.sql in the order they apply: plain numbered files, append-only. */
export function readMigrations(root = projectRoot()): Migration[] {
  const folder = join(root, 'migrations');
  return readdirSync(folder).filter((f) => f.endsWith('.sql')).sort().map((name) => {
    const sql = readFileSync(join(folder, name), 'utf8');
    return { name, sql, checksum: createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex') };
  });
}

/**
 * Brings a database to the current schema: pending migrations (tables), each in its own
 * transaction with its row in etl.schema_migration, then every file under sql/ (create or
 * replace functions, views, procedures) in one transaction. Refuses, before changing
 * anything, a database whose applied migrations differ from the files of the same name.
 */
export async function migrate(databaseUrl: string, options: { log?: (line: string) => void } = {}): Promise<MigrateResult> {
  const root = projectRoot();
  const migrations = readMigrations(root);
  const files = sqlFiles(root);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'b2b-etl migrate' });
  client.on('error', () => {}); // surfaced through the query that fails
  // a warning the SQL raises is for the user (a role it could not create, say)
  client.on('notice', (notice) => {
    if (notice.severity === 'WARNING') options.log?.(`migrate: ${notice.message}`);
  });
  try {
    await client.connect();
  } catch (e) {
    throw new DatabaseConnectionError(databaseUrl, 'DATABASE_URL', e);
  }
  try {
    await client.query('select pg_advisory_lock(hashtext($1))', [LOCK]);
    await ensureLedger(client);
    const ledger = await appliedMigrations(client);
    checkApplied(ledger, migrations);
    const applied = await applyPending(databaseUrl, migrations);
    // knex keeps no checksum: record one for what it just applied, and for what was applied before checksums were kept
    const checksumsRecorded = (await recordMissingChecksums(client, await appliedMigrations(client), migrations)).filter((name) => !applied.includes(name));
    // graphile-worker's own schema (its job queue), kept by its own migrations
    await runWorkerMigrations({ connectionString: databaseUrl, logger: quietLogger });
    await applySqlFiles(client, root, files);
    return { applied, checksumsRecorded, sqlFiles: files.length };
  } finally {
    await client.end().catch(() => {});
  }
}

/** The migrations/ files the database has not applied yet (all of them for an empty database). */
export async function pendingMigrations(client: pg.Pool | pg.PoolClient, root = projectRoot()): Promise<string[]> {
  const { rows: [ledger] } = await client.query<{ exists: boolean }>(`select to_regclass('etl.schema_migration') is not null as exists`);
  const done = new Set<string>();
  if (ledger?.exists) {
    const { rows } = await client.query<{ name: string }>('select name from etl.schema_migration');
    for (const row of rows) done.add(row.name);
  }
  return readMigrations(root).map((m) => m.name).filter((name) => !done.has(name));
}

/**
 * etl.schema_migration, as the knex migrator that first kept it laid it out, plus the
 * checksum of each applied file (null for those applied before checksums were kept).
 */
async function ensureLedger(client: pg.Client): Promise<void> {
  await client.query(`
    create schema if not exists etl;
    create table if not exists etl.schema_migration (
      id serial primary key, name varchar(255), batch integer, migration_time timestamptz);
    alter table etl.schema_migration add column if not exists checksum text;
    comment on column etl.schema_migration.checksum is
      'sha256 of the migration file as applied; migrate refuses a file that no longer matches'`);
}

interface Applied {
  batch: number;
  at: Date | null;
  checksum: string | null;
}

async function appliedMigrations(client: pg.Client): Promise<Map<string, Applied>> {
  const { rows } = await client.query<{ name: string; batch: number; migration_time: Date | null; checksum: string | null }>(
    'select name, batch, migration_time, checksum from etl.schema_migration order by id');
  return new Map(rows.map((r) => [r.name, { batch: r.batch, at: r.migration_time, checksum: r.checksum }]));
}

function checkApplied(ledger: Map<string, Applied>, migrations: Migration[]): void {
  const files = new Map(migrations.map((m) => [m.name, m]));
  for (const [name, applied] of ledger) {
    const file = files.get(name);
    const when = applied.at ? ` on ${applied.at.toISOString().slice(0, 10)}` : '';
    if (!file) {
      throw new MigrationError(`this database has migration ${name} applied${when}, and migrations/ has no such file: ` +
        'it was migrated by a newer b2b-etl; use that version. Nothing was migrated.');
    }
    if (applied.checksum && applied.checksum !== file.checksum) {
      throw new MigrationError(`migrations/${name} differs from the migration of that name applied to this database${when}: ` +
        `applied migrations are never edited; restore the file (git checkout -- migrations/${name}) and put the change ` +
        'in a new numbered migration. Nothing was migrated.');
    }
  }
}

/**
 * The pending migrations, applied by knex's migrator into the ledger it has always kept
 * (etl.schema_migration), each in its own transaction. A failing one is reported by file and
 * line with the server's words, not knex's (which quote the whole file).
 */
async function applyPending(databaseUrl: string, migrations: Migration[]): Promise<string[]> {
  const db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } });
  const done: string[] = [];
  try {
    const [, applied] = (await db.migrate.latest({
      migrationSource: new SqlFileMigrations(migrations, done),
      schemaName: 'etl',
      tableName: 'schema_migration',
    })) as [number, string[]];
    return applied;
  } catch (e) {
    if (e instanceof MigrationError) {
      const earlier = done.length > 0 ? `; ${done.join(', ')} applied before it stay applied` : '';
      throw new MigrationError(`${e.message}${earlier}, sql/ was not applied`);
    }
    throw e;
  } finally {
    await db.destroy();
  }
}

/** migrations/*.sql for knex's migrator: plain numbered files, append-only. */
class SqlFileMigrations implements Knex.MigrationSource<Migration> {
  constructor(private readonly migrations: Migration[], private readonly done: string[]) {}

  async getMigrations(): Promise<Migration[]> {
    return this.migrations;
  }

  getMigrationName(migration: Migration): string {
    return migration.name;
  }

  async getMigration(migration: Migration): Promise<Knex.Migration> {
    return {
      up: async (db: Knex) => {
        try {
          await db.raw(migration.sql);
        } catch (e) {
          // knex puts the whole statement in front of the server's message
          const message = (e as Error).message;
          const said = message.startsWith(migration.sql) ? message.slice(migration.sql.length).replace(/^ - /, '') : message;
          throw new MigrationError(`migrations/${migration.name}${sqlPlace(migration.sql, e)}: ${said}; this migration was rolled back`);
        }
        this.done.push(migration.name);
      },
      down: () => {
        throw new MigrationError(`${migration.name}: migrations are append-only; write a new one instead of rolling back`);
      },
    };
  }
}

async function recordMissingChecksums(client: pg.Client, ledger: Map<string, Applied>, migrations: Migration[]): Promise<string[]> {
  const missing = migrations.filter((m) => ledger.has(m.name) && !ledger.get(m.name)!.checksum);
  for (const m of missing) {
    await client.query('update etl.schema_migration set checksum = $2 where name = $1 and checksum is null', [m.name, m.checksum]);
  }
  return missing.map((m) => m.name);
}

async function applySqlFiles(client: pg.Client, root: string, files: string[]): Promise<void> {
  try {
    await client.query('begin');
    for (const file of files) {
      const sql = readFileSync(file, 'utf8');
      try {
        await client.query(sql);
      } catch (e) {
        throw new MigrationError(`${relative(root, file)}${sqlPlace(sql, e)}: ${(e as Error).message}; nothing of sql/ was applied (rolled back)`);
      }
    }
    await client.query('commit');
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  }
}

/** " (line N)" of the statement PostgreSQL complained about, when it says where. */
function sqlPlace(sql: string, e: unknown): string {
  const position = Number((e as { position?: string }).position);
  if (!Number.isInteger(position) || position <= 0) return '';
  return ` (line ${sql.slice(0, position - 1).split('\n').length})`;
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
