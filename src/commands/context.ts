import { openDatabase, redactUrl, type Database } from '../db/connection.js';

export const log = (line: string) => process.stderr.write(`${line}\n`);

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {}

/** Opens the database (DATABASE_URL or embedded), runs fn, always closes. */
export async function withDatabase<T>(fn: (db: Database) => Promise<T>, options: { poolSize?: number } = {}): Promise<T> {
  const db = await openDatabase({ log, poolSize: options.poolSize });
  try {
    await checkMigrated(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function checkMigrated(db: Database): Promise<void> {
  const { rows } = await db.pool.query(`select to_regclass('staging.record') is not null as ok`);
  if (!rows[0]?.ok) {
    throw new UsageError(`database ${redactUrl(db.url)} has no b2b-etl schema yet: run \`b2b-etl migrate\` first`);
  }
}
