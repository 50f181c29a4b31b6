import { openDatabase, redactUrl } from '../db/connection.js';
import { migrate } from '../db/migrate.js';
import { log } from './context.js';

export async function migrateCommand(): Promise<number> {
  const db = await openDatabase({ log });
  try {
    const result = await migrate(db.url);
    log(`migrated ${redactUrl(db.url)}: ${result.applied.length} new migration(s)` +
      `${result.applied.length ? ` (${result.applied.join(', ')})` : ''}, ${result.sqlFiles} sql/ files applied`);
    return 0;
  } finally {
    await db.close();
  }
}
