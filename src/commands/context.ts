import { openDatabase, type Database } from '../db/connection.js';
import { pendingMigrations } from '../db/migrate.js';
import { describeServer, mask } from '../secrets.js';

/** Every line a command prints about its work goes here: to stderr, secrets masked. */
export const log = (line: string) => process.stderr.write(`${mask(line)}\n`);

/** A usage error: printed without a stack, exit code 2. */
export class UsageError extends Error {}

/** The database is not ready for this version of b2b-etl: printed without a stack, exit code 1. */
export class NotMigratedError extends Error {}

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

/** A database behind the code's migrations fails with a sentence, not with `column … does not exist`. */
async function checkMigrated(db: Database): Promise<void> {
  const pending = await pendingMigrations(db.pool);
  if (pending.length > 0) {
    throw new NotMigratedError(`${pending.length} migration${pending.length === 1 ? '' : 's'} pending: run b2b-etl migrate ` +
      `(${describeServer(db.url, 5432)} lacks ${pending.join(', ')}); nothing was done`);
  }
}
