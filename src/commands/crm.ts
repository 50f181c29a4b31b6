import type { Command } from 'commander';
import type pg from 'pg';
import { letGoDeleted, listDeleted, NothingDeletedError, parseSubject, restoreDeleted, type DeletedEntity } from '../crm/deleted.js';
import { clearLimits } from '../crm/pacing.js';
import { formatCount } from '../land/progress.js';
import { log, UsageError, withDatabase } from './context.js';
import { action } from './define.js';

interface PortalFlag {
  portal?: string;
}

/**
 * `b2b-etl crm …`: what a person decides about the CRM side — entities a manager deleted
 * there (list, bring back, let go) and the limit state kept for a portal.
 */
export function defineCrm(program: Command): void {
  const crm = program
    .command('crm')
    .summary('entities a manager deleted in the CRM (bring back or let go), and a portal\'s limit state')
    .description('What a person decides about the CRM side of the push. A company or contact a manager deleted in the CRM stays deleted: ' +
      'the push does not create it again and a company\'s contacts wait. `crm deleted` lists them, `crm restore` brings one back ' +
      '(the next push creates it again), `crm let-go` lets it go (it stays out of the CRM and is no longer reported).');

  crm.command('deleted')
    .summary('list the companies and contacts deleted in the CRM')
    .option('--portal <name>', 'only this portal (b2b-etl status names them)')
    .action(action(async (flags: PortalFlag) => withDatabase(async (db) => {
      const rows = await listDeleted(db.pool, { portal: await knownPortal(db.pool, flags.portal) });
      process.stdout.write(rows.length === 0 ? 'nothing was deleted in a CRM\n' : `${rows.map(describe).join('\n')}\n`);
      return 0;
    })));

  crm.command('restore')
    .summary('bring a deleted company or contact back: the next push creates it again')
    .argument('<subject>', 'an INN, company:ID or contact:ID (canonical ids, as crm deleted lists them)')
    .option('--portal <name>', 'only in this portal (all portals where it was deleted by default)')
    .action(action(async (subject: string, flags: PortalFlag) => {
      const done = await decide(subject, () => withDatabase(async (db) => restoreDeleted(db.pool, subject, await knownPortal(db.pool, flags.portal))));
      if (!done) return 1;
      for (const d of done) {
        process.stdout.write(`${d.entity} ${d.canonical_id} (${d.label}) on portal ${d.portal}: restored; the next push creates it again` +
          `${d.entity === 'company' ? ' and puts its contacts under it' : ''} (a crm_push is queued)\n`);
      }
      return 0;
    }));

  crm.command('let-go')
    .summary('let a deleted company or contact go: it stays out of the CRM and is no longer reported')
    .argument('<subject>', 'an INN, company:ID or contact:ID (canonical ids, as crm deleted lists them)')
    .option('--portal <name>', 'only in this portal (all portals where it was deleted by default)')
    .action(action(async (subject: string, flags: PortalFlag) => {
      const done = await decide(subject, () => withDatabase(async (db) => letGoDeleted(db.pool, subject, await knownPortal(db.pool, flags.portal))));
      if (!done) return 1;
      for (const d of done) {
        process.stdout.write(`${d.entity} ${d.canonical_id} (${d.label}) on portal ${d.portal}: let go; it stays out of the CRM` +
          `${d.contacts_waiting ? `, with its ${formatCount(d.contacts_waiting)} waiting contacts` : ''}\n`);
      }
      return 0;
    }));

  crm.command('clear-limits')
    .summary('forget what is known of a portal\'s request bucket and execution time')
    .requiredOption('--portal <name>', 'the portal (b2b-etl status names them)')
    .action(action(async (flags: Required<PortalFlag>) => withDatabase(async (db) => {
      const portal = (await knownPortal(db.pool, flags.portal))!;
      const removed = await clearLimits(db.pool, portal);
      process.stdout.write(`portal ${portal}: ${removed === 0 ? 'no limit state was kept' : 'its request bucket and execution-time state are forgotten; the next push learns them again'}\n`);
      return 0;
    })));
}

/**
 * The portal a --portal names, by its name or by an address it was reached at (none named:
 * undefined, every portal); one never pushed to is wrong usage, the known ones named.
 */
async function knownPortal(pool: pg.Pool, portal: string | undefined): Promise<string | undefined> {
  if (portal === undefined) return undefined;
  const { rows } = await pool.query<{ portal: string }>(
    `select portal from etl.crm_portal where portal = $1 union select portal from etl.crm_portal_address where address = $1`, [portal]);
  if (rows[0]) return rows[0].portal;
  const { rows: all } = await pool.query<{ portal: string }>('select portal from etl.crm_portal order by portal');
  throw new UsageError(`no portal is named ${portal} or was reached at it; ${all.length ? `the portals pushed to: ${all.map((r) => r.portal).join(', ')}` : 'nothing was pushed to a portal yet'}`);
}

/** A subject of another form is wrong usage (exit 2); one that matches nothing deleted has nothing to do (exit 1). */
async function decide(subject: string, run: () => Promise<DeletedEntity[]>): Promise<DeletedEntity[] | null> {
  if (!parseSubject(subject)) throw new UsageError(`${subject}: name an INN, company:ID or contact:ID (canonical ids, as b2b-etl crm deleted lists them)`);
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof NothingDeletedError)) throw e;
    log(`b2b-etl crm: ${e.message}`);
    return null;
  }
}

function describe(d: DeletedEntity): string {
  const when = d.deleted_at.toISOString().slice(0, 16).replace('T', ' ');
  const state = d.let_go_at ? `let go ${d.let_go_at.toISOString().slice(0, 16).replace('T', ' ')}` : 'waits for a person';
  const waiting = d.entity === 'company' && d.contacts_waiting > 0 ? `; ${formatCount(d.contacts_waiting)} of its contacts wait` : '';
  return `${d.portal}  ${d.entity}:${d.canonical_id}  CRM ${d.entity} ${d.bitrix_id}  deleted in the CRM (noticed ${when})  ${d.label}${waiting}; ${state}`;
}
