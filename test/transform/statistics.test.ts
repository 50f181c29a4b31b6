import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// A base that grows from empty under a live feed: autovacuum analyzes a table at most once a
// minute, and until then the planner takes tables of thousands of rows for the few they had.
// The transform analyzes the tables it joins to once they changed by more than autovacuum's
// threshold (50 rows and 10 %): in SQL before it plans anything, and b2b-etl beside each run
// (a feed's next run plans on what it found).

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  // autovacuum stays out of this database's tables: what analyzes them here is the transform
  for (const table of ['etl.source_company', 'etl.source_contact', 'canonical.company', 'canonical.company_source', 'canonical.contact', 'canonical.contact_source']) {
    await db.pool.query(`alter table ${table} set (autovacuum_enabled = off)`);
  }
});
afterAll(async () => {
  await db?.drop();
});

let next = 0;
async function landCompanies(count: number): Promise<void> {
  const records = Array.from({ length: count }, () => {
    next += 1;
    const updated = new Date(Date.UTC(2026, 10, 1, 0, 0, next)).toISOString();
    return { sourceKey: `B-STAT-${next}`, updatedAt: isoMicros(updated), isDeleted: false,
      payload: { id: `B-STAT-${next}`, inn: String(7700000000 + next), title: `ООО «Статистика-${next}»`, updated } };
  });
  await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, records);
}

interface TableStats { reltuples: number; analyzed: number; changed: number }
async function stats(table: string): Promise<TableStats> {
  const { rows: [row] } = await db.pool.query<TableStats>(
    `select c.reltuples::float8 as reltuples, (s.analyze_count + s.autoanalyze_count)::int as analyzed, s.n_mod_since_analyze::int as changed
     from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.oid = $1::regclass`, [table]);
  return row!;
}

describe('statistics of a growing base', () => {
  it('a run analyzes the tables that changed by more than 50 rows and 10 % since their last analyze, and only those', async () => {
    await landCompanies(400);
    await runTransform(db.pool);
    // the run's changes reach the statistics a moment after its commit
    for (let i = 0; i < 300 && (await stats('etl.source_company')).changed < 400; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await stats('etl.source_company');
    expect(before.changed).toBeGreaterThanOrEqual(400);
    expect(before.reltuples).toBeLessThan(400);

    // the transform as analysts call it in SQL (b2b-etl's phone step, which analyzes the same way, does not run)
    await landCompanies(1);
    const { rows: [called] } = await db.pool.query<{ run_id: string }>('call etl.transform()');
    const after = await stats('etl.source_company');
    expect(after.analyzed).toBe(before.analyzed + 1);
    expect(after.reltuples).toBeGreaterThanOrEqual(400);
    const analyzed = Number(await db.value(`select stats ->> 'tables_analyzed' from etl.run where run_id = $1`, [called!.run_id]));
    expect(analyzed).toBeGreaterThanOrEqual(1);

    // a table that changed by less than its threshold is left as it is (the whole run: phone step and transform)
    for (let i = 0; i < 300 && (await stats('etl.source_company')).changed < 1; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    await landCompanies(1);
    await runTransform(db.pool);
    expect((await stats('etl.source_company')).analyzed).toBe(after.analyzed);

    // b2b-etl's run analyzes beside itself what the runs before it changed, and is done with it when it returns
    await landCompanies(1000);
    await runTransform(db.pool);
    for (let i = 0; i < 300 && (await stats('etl.source_company')).changed < 1000; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const grown = await stats('etl.source_company');
    expect(grown.reltuples).toBeLessThan(1000);
    await landCompanies(1);
    await runTransform(db.pool);
    const refreshed = await stats('etl.source_company');
    expect(refreshed.analyzed).toBe(grown.analyzed + 1);
    expect(refreshed.reltuples).toBeGreaterThanOrEqual(1400);
  });

  it('an analyze reads the columns plans use, not the landed documents or the phone and e-mail arrays', async () => {
    await db.pool.query('analyze staging.record, etl.source_company');
    const { rows } = await db.pool.query<{ column: string }>(
      `select tablename || '.' || attname as column from pg_stats
       where (schemaname, tablename) in (('staging', 'record'), ('etl', 'source_company')) order by 1`);
    const analyzed = rows.map((r) => r.column);
    expect(analyzed).toEqual(expect.arrayContaining(['record.source_key', 'record.batch_id', 'source_company.inn', 'source_company.source_key']));
    expect(analyzed.filter((c) => /^record\.(payload|raw_text|landing_issues)$|^source_company\.(phones|invalid_phones|emails)$/.test(c))).toEqual([]);
  });

  it('a statistics refresh that fails leaves the run committed and says why', async () => {
    const other = await createTestDatabase();
    try {
      await other.pool.query(`create or replace function etl.refresh_statistics(every boolean default false) returns integer
        language plpgsql as $$ begin raise exception 'no analyze today'; end $$`);
      await landBatch(other.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [{
        sourceKey: 'B-STAT-FAIL', updatedAt: isoMicros('2026-11-01T00:00:00Z'), isDeleted: false,
        payload: { id: 'B-STAT-FAIL', inn: '7707083893', title: 'ООО «Без статистики»', updated: '2026-11-01T00:00:00Z' } }]);
      const notices: string[] = [];
      const run = await runTransform(other.pool, { onNotice: (text) => notices.push(text) });
      expect(run.statisticsError).toMatch(/statistics refresh beside the run failed: no analyze today/);
      expect(notices.some((n) => /no analyze today/.test(n))).toBe(true);
      expect(await other.value(`select count(*)::int from staging.batch where transformed_at is null`)).toBe(0);
      expect(await other.value(`select count(*)::int from etl.source_company where source_key = 'B-STAT-FAIL'`)).toBe(1);
    } finally {
      await other.drop();
    }
  });
});
