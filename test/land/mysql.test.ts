import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlSource, type MysqlSourceConfig } from '../../src/config.js';
import { STORE_A_DUMP } from '../../src/generate/index.js';
import { loadMysqlDump } from '../../src/generate/load-mysql.js';
import { landMysql, MysqlLoadError } from '../../src/land/mysql.js';
import { runTransform } from '../../src/transform/run.js';
import { startCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { cp1251, createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';
import { landSample, makeSample, type Sample } from '../helpers/sample.js';
import { companyMismatches, contactMismatches } from '../helpers/truth.js';

const available = await mysqlAvailable();
const config = (over: Partial<MysqlSourceConfig> = {}): MysqlSourceConfig => ({ ...mysqlSource({ sources: {} }, 'store_a'), ...over });

/** Every staging version of store A as (entity, key, hash), to compare two databases. */
async function stagingState(db: TestDatabase): Promise<string[]> {
  const rows = await db.rows<{ v: string }>(
    `select entity || ':' || source_key || ':' || payload_hash as v from staging.record where source = 'store_a' order by 1`);
  return rows.map((r) => r.v);
}

async function canonicalState(db: TestDatabase): Promise<string[]> {
  const rows = await db.rows<{ v: string }>(`
    select 'company:' || inn || ':' || coalesce(name, '') || ':' || is_deleted as v from canonical.company
    union all
    select 'contact:' || c.inn || ':' || coalesce(ct.last_name, '') || ':' || array_to_string(ct.phones, ',') from canonical.contact ct join canonical.company c using (company_id)
    order by 1`);
  return rows.map((r) => r.v);
}

describe.skipIf(!available)('MySQL loader against the machine MariaDB', () => {
  let sample: Sample;
  let mysql: TestMysql;

  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 11 });
    mysql = await createTestMysql();
    await loadMysqlDump(mysql.url, join(sample.dir, STORE_A_DUMP));
  });
  afterAll(async () => {
    await mysql?.drop();
  });

  it('a full load gives exactly the generated truth, with store A names decoded from cp1251', async () => {
    const db = await createTestDatabase();
    try {
      await landSample(db.pool, sample); // store B's files too: many companies are in both stores
      const result = await landMysql(db.pool, { url: mysql.url, source: 'store_a', config: config({ batchSize: 300 }), full: true, quiet: true });
      expect(result.tables.map((t) => [t.table, t.rows, t.landed])).toEqual([
        ['companies', Object.keys(sample.truth.store_a.companies).length, Object.keys(sample.truth.store_a.companies).length],
        ['contacts', Object.keys(sample.truth.store_a.contacts).length, Object.keys(sample.truth.store_a.contacts).length],
        ['orders', Object.keys(sample.truth.store_a.orders).length, Object.keys(sample.truth.store_a.orders).length],
      ]);
      await runTransform(db.pool);
      expect((await companyMismatches(db, 'store_a', sample.truth.store_a.companies)).slice(0, 10)).toEqual([]);
      const people = new Map<number, string>();
      expect((await contactMismatches(db, 'store_b', sample.truth.store_b.contacts, people)).slice(0, 10)).toEqual([]);
      expect((await contactMismatches(db, 'store_a', sample.truth.store_a.contacts, people)).slice(0, 10)).toEqual([]);
      // one company per INN across both stores, named as the newest record of either says
      const companies = await db.rows<{ inn: string; name: string }>(`select inn, name from canonical.company where not is_deleted`);
      expect(companies.length).toBe(Object.keys(sample.truth.names_all).length);
      const wrong = companies.filter((c) => c.name !== sample.truth.names_all[c.inn]).map((c) => `${c.inn}: ${c.name} ≠ ${sample.truth.names_all[c.inn]}`);
      expect(wrong.slice(0, 5)).toEqual([]);
      const shared = await db.value(`select count(*) from canonical.company where source_count > 1
        and exists (select from canonical.company_source s where s.company_id = company.company_id and s.source = 'store_a')
        and exists (select from canonical.company_source s where s.company_id = company.company_id and s.source = 'store_b')`);
      expect(Number(shared)).toBeGreaterThan(100);
      expect(await db.value(`select count(*) from etl.source_company where source = 'store_a' and name !~ '[А-Яа-я]'`)).toBe('0');
    } finally {
      await db.drop();
    }
  });

  it('an incremental sync picks up inserts, updates, rows at the boundary second and late commits, and reconciles deletes', async () => {
    const db = await createTestDatabase();
    const my = await createTestMysql();
    try {
      await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
      const cfg = config({ batchSize: 250, lagSeconds: 600 });
      const first = await landMysql(db.pool, { url: my.url, source: 'store_a', config: cfg, full: true, quiet: true });
      const mark = first.tables[0]!.watermark!;
      // after the full load: a new row later than everything, an update, a row committed late
      // in the watermark's own second with a lower id, and one committed late 5 minutes back
      await my.query(`insert into companies (id, inn, name, created_at, updated_at) values
        (900001, '7707083893', ?, now(), ?),
        (0, '7736050003', ?, ?, ?),
        (900002, '7702070139', ?, ?, ? - interval 5 minute)`,
        [cp1251('ООО «Новая»'), '2026-11-02 00:00:00', cp1251('ООО «Та же секунда»'), mark.updatedAt, mark.updatedAt,
          cp1251('ООО «Поздняя»'), mark.updatedAt, mark.updatedAt]);
      await my.query(`update companies set name = ?, updated_at = '2026-11-02 00:00:01' where id = 5`, [cp1251('ООО «Переименованная»')]);
      await my.query(`delete from contacts where id in (1, 2)`);
      const second = await landMysql(db.pool, { url: my.url, source: 'store_a', config: cfg, reconcileDeletes: true, quiet: true });
      const companies = second.tables[0]!;
      expect(companies.watermark).toEqual({ updatedAt: '2026-11-02 00:00:01', id: 5 });
      expect(companies.deleted).toBe(0);
      expect(second.tables[1]!.deleted).toBe(2);
      // the overlap re-read rows already landed; only the four changes are new versions
      expect(companies.landed).toBe(4);
      expect(companies.rows).toBeGreaterThan(4);
      const names = await db.rows<{ source_key: string; name: string }>(
        `select distinct on (source_key) source_key, payload ->> 'name' as name from staging.record
         where source = 'store_a' and entity = 'company' and source_key in ('0', '5', '900001', '900002')
         order by source_key, source_updated_at desc`);
      expect(names).toEqual([
        { source_key: '0', name: 'ООО «Та же секунда»' },
        { source_key: '5', name: 'ООО «Переименованная»' },
        { source_key: '900001', name: 'ООО «Новая»' },
        { source_key: '900002', name: 'ООО «Поздняя»' },
      ]);
      // a third run with nothing new lands nothing and keeps the watermark
      const third = await landMysql(db.pool, { url: my.url, source: 'store_a', config: cfg, quiet: true });
      expect(third.tables.map((t) => t.landed)).toEqual([0, 0, 0]);
      expect(third.tables[0]!.watermark).toEqual(companies.watermark);
      await runTransform(db.pool);
      expect(await db.value(`select count(*) from etl.source_contact where source = 'store_a' and source_key in ('1', '2') and is_deleted and not is_accepted`)).toBe('2');
      expect(await db.value(`select name from etl.source_company where source = 'store_a' and source_key = '900002'`)).toBe('ООО «Поздняя»');
    } finally {
      await db.drop();
      await my.drop();
    }
  });

  it('kill -9 of the loader mid-run, then a rerun, gives the same staging and canonical state as one uninterrupted run', async () => {
    // more than one page of the rerun's default size (5 000), and killed after 20 pages of 100
    const rows = 6_000;
    const big = await makeSample({ scale: 'small', seed: 12, companies: 50, contacts: 50, storeACompanies: rows, storeAContacts: rows, events: 0 });
    const my = await createTestMysql();
    const interrupted = await createTestDatabase();
    const straight = await createTestDatabase();
    try {
      await loadMysqlDump(my.url, join(big.dir, STORE_A_DUMP));
      process.env.MYSQL_URL = my.url;
      const run = startCli(['land', 'mysql', '--source', 'store_a', '--full', '--batch-size', '100', '--quiet'], interrupted.url);
      for (let i = 0; i < 400; i++) {
        const n = Number(await interrupted.value(`select count(*) from staging.batch`));
        if (n >= 20) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      run.child.kill('SIGKILL');
      const killed = await run.done;
      expect(killed.signal).toBe('SIGKILL');
      const partial = Number(await interrupted.value(`select count(*) from staging.record`));
      expect(partial).toBeGreaterThan(0);
      expect(partial).toBeLessThan(rows);
      // the rerun is an ordinary scheduled sync: it continues from the watermark
      const rerun = await startCli(['land', 'mysql', '--source', 'store_a', '--quiet'], interrupted.url).done;
      expect(rerun.code, rerun.stderr).toBe(0);
      await landMysql(straight.pool, { url: my.url, source: 'store_a', config: config(), full: true, quiet: true });
      expect(await stagingState(interrupted)).toEqual(await stagingState(straight));
      await runTransform(interrupted.pool);
      await runTransform(straight.pool);
      const canonical = await canonicalState(straight);
      expect(canonical.length).toBeGreaterThan(rows);
      expect(await canonicalState(interrupted)).toEqual(canonical);
    } finally {
      delete process.env.MYSQL_URL;
      await interrupted.drop();
      await straight.drop();
      await my.drop();
    }
  });

  it('a lost connection fails with a clear message, the watermark stays at the last landed batch, and a rerun completes', async () => {
    const db = await createTestDatabase();
    const my = await createTestMysql();
    try {
      await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
      // slow enough to be caught mid-run: a page of 5 rows at a time
      const load = landMysql(db.pool, { url: my.url, source: 'store_a', config: config({ batchSize: 5 }), full: true, quiet: true });
      for (let i = 0; i < 400 && Number(await db.value(`select count(*) from staging.batch`)) < 5; i++) await new Promise((r) => setTimeout(r, 10));
      const threads = (await my.query(
        `select id from information_schema.processlist where db = database() and id <> connection_id()`)) as Array<{ id: number }>;
      expect(threads.length).toBe(1);
      await my.query(`kill connection ${threads[0]!.id}`);
      const error = await load.then(() => null, (e: unknown) => e as Error);
      expect(error).toBeInstanceOf(MysqlLoadError);
      expect(error!.message).toMatch(/lost the connection to MySQL at 127\.0\.0\.1:3306\/b2b_etl_test_\w+ as root while reading store_a companies after the row with key \d+/);
      expect(error!.message).toMatch(/watermark stays at updated_at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, id \d+; run again/);
      expect(error!.message).not.toMatch(/root@/);
      // the watermark is the last landed row in (updated_at, id) order
      const [position] = await db.rows<{ at: string }>(`select to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS') || '/' || last_id as at from etl.mysql_position where entity = 'company'`);
      const [landedMax] = await db.rows<{ at: string }>(`
        select to_char(source_updated_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '/' || source_key as at from staging.record
        where source = 'store_a' and entity = 'company' order by source_updated_at desc, source_key::int desc limit 1`);
      expect(position!.at).toBe(landedMax!.at);
      expect(error!.message).toContain(`watermark stays at updated_at ${position!.at.replace('/', ', id ')}`);
      await landMysql(db.pool, { url: my.url, source: 'store_a', config: config(), quiet: true });
      expect(Number(await db.value(`select count(*) from staging.record where source = 'store_a' and entity = 'company'`))).toBe(Object.keys(sample.truth.store_a.companies).length);
    } finally {
      await db.drop();
      await my.drop();
    }
  });

  it('a stop signal (a worker\'s SIGTERM) ends the sync after the pages in flight, the watermark at the last of them; the next sync goes on from there', async () => {
    const db = await createTestDatabase();
    try {
      const stop = new AbortController();
      // stop once the first pages have committed
      const watch = setInterval(() => {
        void db.value(`select count(*) from staging.batch where source = 'store_a'`).then((n) => { if (Number(n) >= 2) stop.abort(); }, () => {});
      }, 5);
      const stopped = await landMysql(db.pool, { url: mysql.url, source: 'store_a', config: config({ batchSize: 20 }), quiet: true, signal: stop.signal });
      clearInterval(watch);
      const companies = Object.keys(sample.truth.store_a.companies).length;
      expect(stopped.tables.map((t) => t.stopped)).toEqual([true]);
      expect(stopped.tables[0]!.rows).toBeLessThan(companies);
      const landed = Number(await db.value(`select count(*) from staging.record where source = 'store_a'`));
      expect(landed).toBe(stopped.tables[0]!.rows);
      // the watermark is the last landed row, in (updated_at, id) order
      const mark = await db.value(`select to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS') || '/' || last_id from etl.mysql_position where source = 'store_a' and entity = 'company'`);
      expect(mark).toBe(`${stopped.tables[0]!.watermark!.updatedAt}/${stopped.tables[0]!.watermark!.id}`);
      const rest = await landMysql(db.pool, { url: mysql.url, source: 'store_a', config: config({ batchSize: 20 }), quiet: true });
      expect(rest.tables.map((t) => t.stopped ?? false)).toEqual([false, false, false]);
      expect(Number(await db.value(`select count(*) from staging.record where source = 'store_a' and entity = 'company'`))).toBe(companies);
    } finally {
      await db.drop();
    }
  });
});
