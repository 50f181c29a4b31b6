import { checkSourceNames, loadConfig, type Config } from '../config.js';
import { openDatabase, type Database } from '../db/connection.js';
import { pendingMigrations } from '../db/migrate.js';
import { describeServer, mask } from '../secrets.js';

/** Every line a command prints about its work goes here: to stderr, secrets masked. */
export const log = (line: string) => process.stderr.write(`${mask(line)}\n`);

export { UsageError } from '../config-problems.js';

/** The database is not ready for this version of b2b-etl: printed without a stack, exit code 1. */
export class NotMigratedError extends Error {}

let loaded: Config | null = null;

/**
 * The configuration file, read and checked whole once per run: the program reads it before
 * any command's action, so a broken file stops every command with exit 2, and each command
 * takes it from here.
 */
export function configuration(): Config {
  loaded ??= loadConfig();
  return loaded;
}

/** A new run reads the file again (main() runs more than once in one process in tests). */
export function forgetConfiguration(): void {
  loaded = null;
}

/**
 * Opens the database (DATABASE_URL or embedded), runs fn, always closes. Before fn, checks
 * what needs the database: its migrations, and that every source the configuration names is
 * one it knows (file sources are known by their mapping views).
 */
export async function withDatabase<T>(fn: (db: Database) => Promise<T>, options: { poolSize?: number } = {}): Promise<T> {
  const db = await openDatabase({ log, poolSize: options.poolSize });
  try {
    await checkMigrated(db);
    const { rows } = await db.pool.query<{ source: string }>('select distinct source from staging.mapped_source');
    checkSourceNames(configuration(), rows.map((r) => r.source));
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
