import pg from 'pg';

/** The read-only group role migrations maintain (migrations/0006, sql/audit/99_analyst.sql). */
export const ANALYST_ROLE = 'b2b_etl_analyst';

/**
 * Makes a login role a member of the analysts' group role: it reads staging, canonical and
 * the audit objects, calls etl.why, and writes nothing. The role itself (LOGIN, password) is
 * the database administrator's to create.
 */
export async function grantAnalyst(pool: pg.Pool, role: string): Promise<void> {
  const { rows } = await pool.query<{ login: boolean | null; group_exists: boolean }>(
    `select (select rolcanlogin from pg_roles where rolname = $1) as login,
            exists (select from pg_roles where rolname = $2) as group_exists`, [role, ANALYST_ROLE]);
  const found = rows[0]!;
  if (!found.group_exists) {
    throw new Error(`role ${ANALYST_ROLE} does not exist: migrate could not create it (it needs CREATEROLE); ` +
      `ask the database administrator to run \`create role ${ANALYST_ROLE} nologin\`, then b2b-etl migrate`);
  }
  if (found.login === null) {
    throw new Error(`role ${role} does not exist: create it first (create role ${pg.escapeIdentifier(role)} login password '…'), then grant it again`);
  }
  if (role === ANALYST_ROLE) throw new Error(`${ANALYST_ROLE} is the analysts' group role itself: name a login role to make a member of it`);
  await pool.query(`grant ${ANALYST_ROLE} to ${pg.escapeIdentifier(role)}`);
}
