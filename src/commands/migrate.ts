import type { Command } from 'commander';
import { openDatabase } from '../db/connection.js';
import { migrate } from '../db/migrate.js';
import { describeServer } from '../secrets.js';
import { log } from './context.js';
import { action } from './define.js';

export function defineMigrate(program: Command): void {
  program
    .command('migrate')
    .summary('create or update the warehouse schema and SQL')
    .description('Applies the pending migrations/*.sql (tables; append-only, each checked against the checksum recorded ' +
      'when it was applied) and re-creates everything in sql/ (functions, views, procedures, the analysts\' grants).')
    .action(action(() => migrateCommand()));
}

async function migrateCommand(): Promise<number> {
  const db = await openDatabase({ log });
  try {
    const result = await migrate(db.url, { log });
    const recorded = result.checksumsRecorded.length
      ? `; checksums recorded for ${result.checksumsRecorded.length} migration(s) applied before checksums were kept` : '';
    log(`migrated ${describeServer(db.url, 5432)}: ${result.applied.length} new migration(s)` +
      `${result.applied.length ? ` (${result.applied.join(', ')})` : ''}${recorded}, ${result.sqlFiles} sql/ files applied`);
    return 0;
  } finally {
    await db.close();
  }
}
