import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { projectRoot } from '../../db/paths.js';

/** The sandbox's DDL files, applied in name order; a file's leading number is its version. */
function schemaFiles(): Array<{ version: number; name: string; sql: string }> {
  const folder = join(projectRoot(), 'src', 'sandbox', 'schema');
  return readdirSync(folder)
    .filter((name) => /^\d+_.*\.sql$/.test(name))
    .sort()
    .map((name) => ({ version: Number.parseInt(name, 10), name, sql: readFileSync(join(folder, name), 'utf8') }));
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates the sandbox's schema or brings it up to date. The applied version is kept in the
 * schema itself, so a restart keeps the portal's contents; an advisory lock keeps two
 * sandboxes starting on one database from applying a file twice.
 */
export async function applySchema(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext('b2b-etl sandbox schema ' || $1))`, [schema]);
    await client.query(`create schema if not exists ${quoteIdent(schema)}`);
    await client.query(`set local search_path to ${quoteIdent(schema)}`);
    await client.query(`create table if not exists schema_version (version integer primary key, name text not null, applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number | null }>('select max(version) as version from schema_version');
    const applied = rows[0]?.version ?? 0;
    for (const file of schemaFiles()) {
      if (file.version <= applied) continue;
      await client.query(file.sql).catch((e: Error) => {
        throw new Error(`sandbox schema ${schema}, file ${file.name}: ${e.message}; nothing of it was applied`);
      });
      await client.query('insert into schema_version (version, name) values ($1, $2)', [file.version, file.name]);
    }
    await client.query('commit');
  } catch (e) {
    await client.query('rollback').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
