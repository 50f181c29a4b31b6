import type { Command } from 'commander';
import type pg from 'pg';
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
      `and cannot write. Its grants survive migrate. Undo: revoke ${ANALYST_ROLE} from ROLE. ` +
      'Membership adds rights and takes none away: a superuser, an owner of the tables or a role with write grants of its own stays able to write.')
    .argument('<role>', 'an existing login role')
    .action(action(async (role: string) => {
      const powers = await withDatabase(async (db) => {
        await grantAnalyst(db.pool, role);
        return writePowers(db.pool, role);
      });
      const member = `${role} is now a member of ${ANALYST_ROLE}`;
      if (powers.superuser) {
        log(`${member}, but it is a superuser: membership takes no right away, so it still reads and writes everything. ` +
          'Give the analyst a login role of their own (create role NAME login) and grant that instead');
      } else if (powers.owned > 0) {
        log(`${member}, but it owns ${powers.owned} of the warehouse's tables and views (or belongs to their owner, the role that migrates): ` +
          'an owner writes whatever it is granted. Give the analyst a login role of their own and grant that instead');
      } else if (powers.writable > 0) {
        log(`${member}, but it can still write ${powers.writable} tables of staging, canonical and etl through grants of its own ` +
          `(to it or to another role it belongs to): membership takes none away. Revoke those to make it read-only`);
      } else {
        log(`${member}: read-only access to staging, canonical and the audit objects`);
      }
      return 0;
    }));
}

/** What a role can write in the warehouse whatever its analyst membership: as superuser, as owner, or by its own grants. */
async function writePowers(pool: pg.Pool, role: string): Promise<{ superuser: boolean; owned: number; writable: number }> {
  const { rows } = await pool.query<{ superuser: boolean; owned: number; writable: number }>(`
    with role as (select oid, rolsuper from pg_roles where rolname = $1),
    warehouse as (
      select c.oid, c.relkind, c.relowner
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('staging', 'canonical', 'etl') and c.relkind in ('r', 'p', 'v', 'm')
    )
    select r.rolsuper as superuser,
           (select count(*)::int from warehouse w where pg_has_role(r.oid, w.relowner, 'MEMBER')) as owned,
           (select count(*)::int from warehouse w
             where w.relkind in ('r', 'p') and has_table_privilege(r.oid, w.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) as writable
    from role r`, [role]);
  return rows[0]!;
}
