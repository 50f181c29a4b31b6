import type { Command } from 'commander';
import { ANALYST_ROLE, grantAnalyst } from '../audit/analyst.js';
import { log, withDatabase } from './context.js';
import { action } from './define.js';

export function defineGrant(program: Command): void {
  program
    .command('grant')
    .summary('give a database role read-only access for analysts')
    .command('analyst')
    .summary(`make ROLE a member of ${ANALYST_ROLE}: reads staging, canonical and the audit trail, writes nothing`)
    .description(`Makes the login role ROLE a member of ${ANALYST_ROLE}, the read-only group role migrate maintains: ` +
      'it can read staging, canonical and the audit objects (etl.rejection, etl.merge, etl.funnel, …) and call etl.why, ' +
      `and cannot write. Its grants survive migrate. Undo: revoke ${ANALYST_ROLE} from ROLE.`)
    .argument('<role>', 'an existing login role')
    .action(action(async (role: string) => {
      await withDatabase((db) => grantAnalyst(db.pool, role));
      log(`${role} is now a member of ${ANALYST_ROLE}: read-only access to staging, canonical and the audit objects`);
      return 0;
    }));
}
