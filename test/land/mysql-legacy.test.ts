import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlSource, type MysqlSourceConfig } from '../../src/config.js';
import { landMysql } from '../../src/land/mysql.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';

// Store A as legacy shops keep it: zero dates under sql_mode='', NULL change times, keys
// that are text or missing. The loader must land every row, never stall on page 1, and
// never lose a row an incremental sync should read.

const available = await mysqlAvailable();

const config = (over: Partial<MysqlSourceConfig> = {}): MysqlSourceConfig => ({ ...mysqlSource({ sources: {} }, 'store_a'), textEncoding: 'utf8', ...over });

const SCHEMA = [
  `create table companies (id int not null primary key, inn varchar(12), name varchar(255), created_at datetime null,
     updated_at datetime null) engine=InnoDB default charset=utf8mb4`,
  `create table contacts (id int not null primary key, company_id int, fio varchar(255), updated_at datetime null) engine=InnoDB default charset=utf8mb4`,
];

describe.skipIf(!available)('MySQL loader and legacy datetimes', () => {
  let my: TestMysql;
  let db: TestDatabase;

  beforeAll(async () => {
    my = await createTestMysql();
    db = await createTestDatabase();
    await my.query(`set session sql_mode = ''`);
    for (const sql of SCHEMA) await my.query(sql);
  });
  afterAll(async () => {
    await db?.drop();
    await my?.drop();
  });

  it('lands zero and NULL change times, reads NULL-dated rows again on every incremental sync, and warns about dates that are no day', async () => {
    // page size 2: a NULL date falls on a page's last row, a zero date on page 1
    await my.query(`insert into companies (id, inn, name, created_at, updated_at) values
      (1, '7707083893', 'First', '2026-01-10 10:00:00', '0000-00-00 00:00:00'),
      (2, '7736050003', 'Second', '0000-00-00 00:00:00', '2026-03-01 10:00:00'),
      (3, '7702070139', 'Third', '2026-01-10 10:00:00', null),
      (4, '7710140679', 'Fourth', '2026-01-10 10:00:00', '2026-03-02 10:00:00'),
      (5, '7728168971', 'Fifth', '2026-01-10 10:00:00', '2026-00-15 10:00:00'),
      (6, '7703270067', 'Sixth', '2026-01-10 10:00:00', null),
      (7, '7704217370', 'Seventh', '2026-01-10 10:00:00', '2026-03-03 10:00:00')`);
    const cfg = config({ batchSize: 2, timezone: '+03:00' });
    const first = await landMysql(db.pool, { url: my.url, source: 'store_a', config: cfg, quiet: true });
    const companies = first.tables[0]!;
    expect(companies).toMatchObject({ rows: 7, landed: 7, undated: 4 });
    // the watermark: the newest real day, never a zero date or a NULL
    expect(companies.watermark).toEqual({ updatedAt: '2026-03-03 10:00:00', id: 7 });
    const landed = await db.rows<{ source_key: string; at: Date | null; created: string | null; issue: string | null }>(
      `select source_key, source_updated_at as at, payload ->> 'created_at' as created, landing_issues -> 0 ->> 'value' as issue
       from staging.record where entity = 'company' order by source_key`);
    expect(landed.map((r) => [r.source_key, r.at?.toISOString() ?? null, r.created, r.issue])).toEqual([
      ['1', null, '2026-01-10T10:00:00+03:00', null],
      ['2', '2026-03-01T07:00:00.000Z', null, null], // a zero created_at is no date
      ['3', null, '2026-01-10T10:00:00+03:00', null],
      ['4', '2026-03-02T07:00:00.000Z', '2026-01-10T10:00:00+03:00', null],
      ['5', null, '2026-01-10T10:00:00+03:00', '2026-00-15 10:00:00'],
      ['6', null, '2026-01-10T10:00:00+03:00', null],
      ['7', '2026-03-03T07:00:00.000Z', '2026-01-10T10:00:00+03:00', null],
    ]);

    // rows with no change time change without one: the next sync still sees them, the one
    // with a date that is no day too; a dated row whose date a shop zeroes is read again
    await my.query(`update companies set name = 'First (new)' where id = 1`);
    await my.query(`update companies set name = 'Third (new)' where id = 3`);
    await my.query(`update companies set name = 'Fifth (new)' where id = 5`);
    await my.query(`update companies set name = 'Fourth (new)', updated_at = '0000-00-00 00:00:00' where id = 4`);
    const second = await landMysql(db.pool, { url: my.url, source: 'store_a', config: cfg, quiet: true });
    expect(second.tables[0]).toMatchObject({ landed: 4, watermark: { updatedAt: '2026-03-03 10:00:00', id: 7 } });
    const third = await landMysql(db.pool, { url: my.url, source: 'store_a', config: cfg, quiet: true });
    expect(third.tables[0]).toMatchObject({ landed: 0, undated: 5 });

    await runTransform(db.pool);
    // the latest read of a row wins, its change time or not (a version without one is placed by when it landed)
    const names = await db.rows(`select source_key, name from etl.source_company where source_key in ('1', '3', '4', '5') order by 1`);
    expect(names).toEqual([{ source_key: '1', name: 'First (new)' }, { source_key: '3', name: 'Third (new)' },
      { source_key: '4', name: 'Fourth (new)' }, { source_key: '5', name: 'Fifth (new)' }]);
    expect(await db.rows(`select source_key, severity, value from etl.rejection where reason = 'updated_unparseable'`)).toEqual([
      { source_key: '5', severity: 'warning', value: '2026-00-15 10:00:00' }]);
  });

  it('refuses to mark most of a table deleted because the replica is empty or wrong, unless forced', async () => {
    const other = await createTestDatabase();
    const empty = await createTestMysql();
    try {
      await landMysql(other.pool, { url: my.url, source: 'store_a', config: config(), quiet: true });
      await empty.query(`set session sql_mode = ''`);
      for (const sql of SCHEMA) await empty.query(sql);
      const error = await landMysql(other.pool, { url: empty.url, source: 'store_a', config: config(), reconcileDeletes: true, quiet: true }).then(() => null, (e: Error) => e);
      expect(error?.message).toMatch(/--reconcile-deletes would mark 7 of 7 live records deleted \(the table has 0 rows\): that looks like an empty or wrong replica/);
      expect(await other.value(`select count(*) from staging.record where is_deleted`)).toBe('0');
      const forced = await landMysql(other.pool, { url: empty.url, source: 'store_a', config: config(), reconcileDeletes: true, forceDeletes: true, quiet: true });
      expect(forced.tables[0]!.deleted).toBe(7);
    } finally {
      await other.drop();
      await empty.drop();
    }
  });

  it('lands rows whose key is NULL or empty, rejected key_missing, and keeps paging past them', async () => {
    await my.query(`create table keyed (id int not null auto_increment primary key, code varchar(20) null, inn varchar(12), updated_at datetime null)`);
    await my.query(`insert into keyed (code, inn, updated_at) values
      ('A-1', '7707083893', '2026-03-01 10:00:00'), (null, '7736050003', '2026-03-01 10:00:00'),
      ('', '7702070139', '2026-03-01 10:00:00'), ('A-2', '7710140679', '2026-03-01 10:00:00'),
      (null, '7728168971', '2026-03-01 10:00:00'), ('A-3', '7703270067', '2026-03-01 10:00:00')`);
    const other = await createTestDatabase();
    try {
      const table = { table: 'keyed', key: 'code', updated: 'updated_at' };
      const cfg = config({ batchSize: 2, companies: table, contacts: { table: 'contacts', key: 'id', updated: 'updated_at' } });
      const result = await landMysql(other.pool, { url: my.url, source: 'store_a', config: cfg, quiet: true });
      expect(result.tables[0]).toMatchObject({ rows: 6, landed: 6 });
      const keys = (await other.rows<{ source_key: string }>(`select source_key from staging.record where entity = 'company' order by 1`)).map((r) => r.source_key);
      expect(keys.filter((k) => k.startsWith('#nokey:'))).toHaveLength(3);
      expect(keys.filter((k) => !k.startsWith('#nokey:'))).toEqual(['A-1', 'A-2', 'A-3']);
      expect(await other.value(`select last_key from etl.mysql_position where entity = 'company'`)).toBe('A-3');
      await runTransform(other.pool);
      expect(await other.value(`select count(*) from etl.rejection where reason = 'key_missing' and entity = 'company'`)).toBe('3');
    } finally {
      await other.drop();
    }
  });
});
