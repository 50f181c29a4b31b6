import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { testPortal } from '../crm/helpers.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/** What the demo would overwrite in a user's database. */
async function userState(db: TestDatabase): Promise<unknown> {
  return {
    window: await db.value(`select value from etl.setting where name = 'window_start'`),
    snapshot: await db.rows(`select inn, status, source_file from etl.registry_snapshot order by inn`),
    records: await db.value(`select count(*) from staging.record`),
    demo: await db.value(`select count(*) from etl.setting where name = 'demo_sample'`),
  };
}

async function userDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await db.pool.query(`update etl.setting set value = '2019-03-01' where name = 'window_start'`);
  await db.pool.query(`insert into etl.registry_snapshot (inn, status, source_file) values ('7707083893', 'ACTIVE', 'mine.csv')`);
  return db;
}

describe('demo never writes into the user\'s own database', () => {
  it('with DATABASE_URL and BITRIX24_WEBHOOK_URL exported it runs on its own PostgreSQL and its own sandbox portal, leaving theirs as they were', async () => {
    const db = await userDatabase();
    const portal = await testPortal(db, { https: false });
    try {
      const before = await userState(db);
      // the port the test run's own embedded server may have taken is not the demo's
      const run = await runCli(['demo'], db.url, { EMBEDDED_PG_PORT: '', BITRIX24_WEBHOOK_URL: portal.sandbox.webhookUrl });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/DATABASE_URL is not used: the demo runs on its own embedded PostgreSQL in \.data\/demo/);
      expect(run.stderr).toMatch(/BITRIX24_WEBHOOK_URL is not used: the demo pushes to its own sandbox portal/);
      expect(run.stdout).toMatch(/companies: .* ready for the CRM/);
      expect(run.stdout).toMatch(/PGPASSWORD="\$\(cat .*demo[^"]*\.password\)" psql -h 127\.0\.0\.1 -p \d+ -U postgres postgres/);
      // it ends with the push: to its own sandbox, which then holds the ready companies
      expect(run.stdout).toMatch(/Pushed to the sandbox portal https:\/\/127\.0\.0\.1:\d+ \(import mode/);
      const held = /The portal holds ([\d ]+) companies \(([\d ]+) requisites.*and ([\d ]+) contacts/.exec(run.stdout);
      expect(held, run.stdout).not.toBeNull();
      expect(Number(held![1]!.replaceAll(' ', ''))).toBeGreaterThan(1000);
      expect(held![2]).toBe(held![1]);
      expect(Number(held![3]!.replaceAll(' ', ''))).toBeGreaterThan(5000);
      expect(await userState(db)).toEqual(before);
      expect(Number((await portal.db.query('select count(*) from call')).rows[0].count)).toBe(0);
    } finally {
      await portal.stop();
      await db.drop();
    }
  });

  it('--database-url refuses a database that holds data, and says how to go on; --force is the explicit yes', async () => {
    const db = await userDatabase();
    try {
      const before = await userState(db);
      const refused = await runCli(['demo', '--database-url', db.url], db.url);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/already holds \d+ tables .*the demo would land its sample there, set window_start and replace the registry snapshot/);
      expect(refused.stderr).toMatch(/without --database-url .* or add --force/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      expect(await userState(db)).toEqual(before);

      const forced = await runCli(['demo', '--database-url', db.url, '--force'], db.url);
      expect(forced.code, forced.stderr).toBe(0);
      expect(await db.value(`select value from etl.setting where name = 'window_start'`)).not.toBe('2019-03-01');
      // the demo marked it as its own: running it there again needs no --force
      const again = await runCli(['demo', '--database-url', db.url], db.url);
      expect(again.code, again.stderr).toBe(0);
      // the second push to the demo's portal creates nothing: the portal holds what it held
      const held = (stdout: string) => /The portal holds ([\d ]+) companies \(.*\) and ([\d ]+) contacts/.exec(stdout)?.slice(1);
      expect(held(forced.stdout)).toBeDefined();
      expect(held(again.stdout)).toEqual(held(forced.stdout));
      expect(again.stdout).toMatch(/: 0 companies and 0 contacts created, /);
    } finally {
      await db.drop();
    }
  }, 420_000); // two whole demos, each landing, checking, transforming and pushing the sample
});
