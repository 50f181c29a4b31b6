import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCount } from '../../src/land/progress.js';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { transformedSample } from '../helpers/sample.js';

const ROLE = `b2b_etl_test_analyst_${process.pid}`;
/** Roles that membership cannot make read-only: a superuser, and a role with a write grant of its own. */
const SUPERUSER = `b2b_etl_test_super_${process.pid}`;
const WRITER = `b2b_etl_test_writer_${process.pid}`;
const PASSWORD = 'analyst-test-password';

let db: TestDatabase;
let analyst: pg.Client;

function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = PASSWORD;
  return u.toString();
}

async function refused(sql: string): Promise<string> {
  try {
    await analyst.query(sql);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`the analyst was allowed to run: ${sql}`);
}

beforeAll(async () => {
  ({ db } = await transformedSample(5));
  await db.pool.query(`drop role if exists ${ROLE}`);
  await db.pool.query(`create role ${ROLE} login password '${PASSWORD}'`);
  for (const role of [SUPERUSER, WRITER]) await db.pool.query(`drop role if exists ${role}`);
  await db.pool.query(`create role ${SUPERUSER} login superuser`);
  await db.pool.query(`create role ${WRITER} login`);
  await db.pool.query(`grant usage on schema canonical to ${WRITER}`);
  await db.pool.query(`grant insert, update on canonical.company, canonical.contact to ${WRITER}`);
});
afterAll(async () => {
  await analyst?.end().catch(() => {});
  await db.drop();
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  for (const role of [ROLE, SUPERUSER, WRITER]) await admin.query(`drop role if exists ${role}`);
  await admin.end();
});

describe('analysts: a read-only role', () => {
  it('b2b-etl grant analyst ROLE refuses a role that does not exist, in one sentence', async () => {
    const result = await runCli(['grant', 'analyst', 'no_such_role_x'], db.url);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^b2b-etl: role no_such_role_x does not exist: create it first/);
  });

  it('a granted role reads staging, canonical, the audit objects and etl.why, and writes nothing', async () => {
    const granted = await runCli(['grant', 'analyst', ROLE], db.url);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stderr).toBe(`${ROLE} is now a member of b2b_etl_analyst: read-only access to staging, canonical and the audit objects\n`);
    analyst = new pg.Client({ connectionString: asRole(db.url, ROLE) });
    await analyst.connect();

    const inn = (await db.value<string>('select inn from canonical.company where not is_deleted limit 1'))!;
    const read = async () => ({
      companies: Number((await analyst.query('select count(*) from canonical.company')).rows[0].count),
      contacts: Number((await analyst.query('select count(*) from canonical.contact')).rows[0].count),
      staging: Number((await analyst.query('select count(*) from staging.record')).rows[0].count),
      view: Number((await analyst.query('select count(*) from staging.stg_store_b__companies')).rows[0].count),
      rejections: Number((await analyst.query('select count(*) from etl.rejection')).rows[0].count),
      funnel: (await analyst.query('select * from etl.funnel')).rows.length,
      why: (await analyst.query('select * from etl.why($1)', [inn])).rows.length,
      customers: Number((await analyst.query('select count(*) from analytics.customer')).rows[0].count),
    });
    const before = await read();
    expect(before.companies).toBe(Number(await db.value('select count(*) from canonical.company')));
    expect(before.staging).toBeGreaterThan(0);
    expect(before.view).toBeGreaterThan(0);
    expect(before.rejections).toBeGreaterThan(0);
    expect(before.funnel).toBe(16); // 7 steps of companies, 4 of contacts, 5 of orders
    expect(before.why).toBeGreaterThan(0);
    expect(before.customers).toBe(Number(await db.value('select count(*) from analytics.customer')));

    expect(await refused(`insert into canonical.company (inn) values ('7707083893')`)).toMatch(/permission denied for table company/);
    expect(await refused('delete from staging.record')).toMatch(/permission denied for table record/);
    expect(await refused(`update etl.setting set value = 'x'`)).toMatch(/permission denied for table setting/);
    expect(await refused('call etl.transform()')).toMatch(/permission denied/);
    expect(await refused('create table canonical.mine (x int)')).toMatch(/permission denied for schema canonical/);

    // migrate re-creates every view and function; the grants must survive it
    const migrated = await runCli(['migrate'], db.url);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(await read()).toEqual(before);
  });

  it('a superuser or a role with write grants of its own is told that membership does not make it read-only', async () => {
    const superuser = await runCli(['grant', 'analyst', SUPERUSER], db.url);
    expect(superuser.code, superuser.stderr).toBe(0);
    expect(superuser.stderr).toContain(`${SUPERUSER} is now a member of b2b_etl_analyst, but it is a superuser: membership takes no right away`);
    expect(superuser.stderr).not.toContain('read-only access');

    const writer = await runCli(['grant', 'analyst', WRITER], db.url);
    expect(writer.code, writer.stderr).toBe(0);
    expect(writer.stderr).toContain(`${WRITER} is now a member of b2b_etl_analyst, but it can still write 2 tables of staging, canonical and etl`);
    expect(writer.stderr).not.toContain('read-only access');
  });

  it('etl.funnel gives the numbers status prints', async () => {
    const status = await runCli(['status'], db.url);
    expect(status.code, status.stderr).toBe(0);
    const funnel = await db.rows<{ entity: string; stage: string; records: string }>('select entity, stage, records from etl.funnel order by entity, step');
    const n = (entity: string, stage: string) => formatCount(Number(funnel.find((r) => r.entity === entity && r.stage === stage)!.records));
    expect(status.stdout).toContain(`companies: ${n('company', 'versions_landed')} versions landed → ${n('company', 'source_records')} source records → ` +
      `${n('company', 'valid_inn')} with a valid INN → ${n('company', 'accepted')} accepted → ${n('company', 'canonical')} canonical companies`);
    expect(status.stdout).toContain(`contacts:  ${n('contact', 'versions_landed')} versions landed → ${n('contact', 'source_records')} source records → ` +
      `${n('contact', 'accepted')} accepted → ${n('contact', 'canonical')} canonical contacts`);
    // and the numbers are the warehouse's, not the view's own idea of them
    expect(Number(funnel.find((r) => r.entity === 'company' && r.stage === 'canonical')!.records))
      .toBe(Number(await db.value('select count(*) from canonical.company where not is_deleted')));
    const rejections = await db.rows<{ reason: string; records: string }>('select reason, records from etl.rejection_summary');
    expect(rejections.length).toBeGreaterThan(0);
    for (const r of rejections) expect(status.stdout).toMatch(new RegExp(`${r.reason}\\s+${formatCount(Number(r.records))}\n`));
  });
});
