import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlSource } from '../../src/config.js';
import { STORE_A_DUMP } from '../../src/generate/index.js';
import { loadMysqlDump } from '../../src/generate/load-mysql.js';
import { STATUSES } from '../../src/generate/orders.js';
import { isoMicros } from '../../src/land/change-time.js';
import { landFile } from '../../src/land/file.js';
import { landMysql } from '../../src/land/mysql.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestMysql, mysqlAvailable, type TestMysql } from '../helpers/mysql.js';
import { landSample, makeSample, type Sample } from '../helpers/sample.js';
import { orderMismatches } from '../helpers/truth.js';

// Orders of both stores (store A from MariaDB with their lines, store B's file) become
// deals; the generator wrote what must become of each one, the transform must agree exactly.
const hasMysql = await mysqlAvailable();
const STORE_A = mysqlSource({ sources: { store_a: { mysql: { textEncoding: 'cp1251' } } } }, 'store_a');

describe.skipIf(!hasMysql)('orders become deals', () => {
  let db: TestDatabase;
  let my: TestMysql;
  let sample: Sample;
  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 5 });
    db = await createTestDatabase();
    my = await createTestMysql();
    await loadMysqlDump(my.url, join(sample.dir, STORE_A_DUMP));
    await landSample(db.pool, sample);
    await landMysql(db.pool, { url: my.url, source: 'store_a', config: STORE_A, quiet: true });
    await runTransform(db.pool);
  });
  afterAll(async () => {
    await db?.drop();
    await my?.drop();
  });

  it('the stage map the migration seeds is the statuses each store documents', async () => {
    const map = await db.rows<{ source: string; source_status: string; stage_id: string; outcome: string }>(
      `select source, source_status, stage_id, outcome from etl.deal_stage_map order by 1, 2`);
    const documented = Object.entries(STATUSES).flatMap(([source, statuses]) => statuses.filter((s) => s.stage !== null)
      .map((s) => ({ source, source_status: s.status, stage_id: s.stage!, outcome: s.outcome })));
    expect(map).toEqual(documented.sort((a, b) => `${a.source} ${a.source_status}`.localeCompare(`${b.source} ${b.source_status}`)));
  });

  it('store B: every order of its file is a deal as the truth says, or rejected for its reason', async () => {
    expect(Object.keys(sample.truth.store_b.orders).length).toBeGreaterThan(3000);
    expect((await orderMismatches(db, 'store_b', sample.truth.store_b.orders)).slice(0, 10)).toEqual([]);
  });

  it('store A: every order of the replica, with its lines, is a deal as the truth says, or rejected for its reason', async () => {
    expect(Object.keys(sample.truth.store_a.orders).length).toBeGreaterThan(1500);
    expect((await orderMismatches(db, 'store_a', sample.truth.store_a.orders)).slice(0, 10)).toEqual([]);
    // Cyrillic from the cp1251 replica reads as it was written
    expect(await db.value(`select count(*) from canonical.deal where source = 'store_a' and number like 'ЗК-%'`))
      .toBe(String(Object.values(sample.truth.store_a.orders).filter((t) => t.inn).length));
  });

  it('plants every reason and the warning', async () => {
    const reasons = await db.rows<{ reason: string }>(`select distinct reason from etl.rejection where entity = 'order' and resolved_at is null order by 1`);
    expect(reasons.map((r) => r.reason)).toEqual(['company_missing', 'company_rejected', 'out_of_window', 'stage_unmapped', 'total_mismatch']);
  });

  it('the analysts\' views: won revenue per company, year and store, repeat customers, customers of both stores', async () => {
    // from the truth: won revenue per INN, Moscow year, store and currency, in kopecks
    const want = new Map<string, number>();
    const wonStores = new Map<string, Set<string>>();
    const won = new Map<string, number>();
    for (const store of ['store_a', 'store_b'] as const) {
      for (const t of Object.values(sample.truth[store].orders)) {
        if (!t.inn || t.outcome !== 'won') continue;
        const year = new Date(Date.parse(t.created!) + 3 * 3_600_000).getUTCFullYear();
        const key = `${t.inn} ${year} ${store} ${t.currency}`;
        want.set(key, (want.get(key) ?? 0) + Math.round(Number(t.amount) * 100));
        wonStores.set(t.inn, (wonStores.get(t.inn) ?? new Set()).add(store));
        won.set(t.inn, (won.get(t.inn) ?? 0) + 1);
      }
    }
    const got = new Map((await db.rows<{ key: string; revenue: string }>(`
      select inn || ' ' || year || ' ' || store || ' ' || currency as key, revenue::text
      from analytics.revenue_by_company_year where won_deals > 0`)).map((r) => [r.key, Math.round(Number(r.revenue) * 100)]));
    expect(got.size).toBe(want.size);
    expect([...want].filter(([k, v]) => got.get(k) !== v).slice(0, 5)).toEqual([]);
    const both = [...wonStores].filter(([, s]) => s.size === 2).map(([inn]) => inn).sort();
    expect(both.length).toBeGreaterThan(0);
    expect((await db.rows<{ inn: string }>(`select inn from analytics.cross_store_customers order by inn`)).map((r) => r.inn)).toEqual(both);
    const repeat = [...won].filter(([, n]) => n >= 2).map(([inn]) => inn).sort();
    expect((await db.rows<{ inn: string }>(`select inn from analytics.repeat_customers order by inn`)).map((r) => r.inn)).toEqual(repeat);
    // deals per stage add up to the deals
    expect(await db.value(`select sum(deals)::text from analytics.deals_by_stage`)).toBe(await db.value(`select count(*)::text from canonical.deal where not is_deleted`));
  });

  it('why tells an order\'s deal, a rejected order\'s reason, and a company\'s deals', async () => {
    const [key, deal] = Object.entries(sample.truth.store_b.orders).find(([, t]) => t.inn && t.outcome === 'won')!;
    const story = (await db.rows<{ story: string }>(`select story from etl.why($1)`, [`store_b:${key}`])).map((r) => r.story).join('\n');
    expect(story).toMatch(new RegExp(`is canonical deal \\d+: Заказ .*, stage WON \\(won\\), ${deal.amount} ${deal.currency}`));
    const [rejectedKey] = Object.entries(sample.truth.store_b.orders).find(([, t]) => t.reason === 'out_of_window')!;
    const rejected = (await db.rows<{ story: string }>(`select story from etl.why($1)`, [`store_b:${rejectedKey}`])).map((r) => r.story).join('\n');
    expect(rejected).toMatch(/error out_of_window: placed \d{4}-\d\d-\d\d, before the load window/);
    expect(rejected).toMatch(/is no deal: rejected/);
    const company = (await db.rows<{ kind: string; story: string }>(`select kind, story from etl.why($1)`, [deal.inn!]));
    expect(company.find((f) => f.kind === 'deals')?.story).toMatch(/^\d+ deal\(s\) from orders: \d+ won/);
    expect(company.some((f) => f.kind === 'deal' && f.story.includes(`store_b:${key}`))).toBe(true);
  });

  it('store A: a changed line is a change of its order; a changed status, a deleted order reach the deals at the next sync', async () => {
    const accepted = Object.entries(sample.truth.store_a.orders).filter(([, t]) => t.inn && !t.warnings).map(([k]) => k);
    const [lineChanged, statusChanged, deleted] = accepted;
    await my.query(`update order_items set quantity = quantity + 1, updated_at = '2026-11-05 10:00:00' where id = (select min(id) from order_items where order_id = ?)`, [Number(lineChanged)]);
    await my.query(`update orders set status = 'cancelled', updated_at = '2026-11-05 10:00:01' where id = ?`, [Number(statusChanged)]);
    await my.query(`delete from order_items where order_id = ?`, [Number(deleted)]);
    await my.query(`delete from orders where id = ?`, [Number(deleted)]);
    const sync = await landMysql(db.pool, { url: my.url, source: 'store_a', config: STORE_A, quiet: true, reconcileDeletes: true });
    const orders = sync.tables.find((t) => t.entity === 'order')!;
    expect({ landed: orders.landed, deleted: orders.deleted }).toEqual({ landed: 2, deleted: 1 });
    // the order's watermark is its line's change
    expect(orders.watermark?.updatedAt).toBe('2026-11-05 10:00:01');
    await runTransform(db.pool);
    const deals = new Map((await db.rows<{ source_key: string; stage_id: string; is_deleted: boolean; quantity: string }>(`
      select d.source_key, d.stage_id, d.is_deleted, (select i.quantity::text from canonical.deal_item i where i.deal_id = d.deal_id and i.line_no = 1) as quantity
      from canonical.deal d where d.source = 'store_a' and d.source_key = any($1)`, [[lineChanged, statusChanged, deleted]])).map((d) => [d.source_key, d]));
    expect(deals.get(statusChanged!)).toMatchObject({ stage_id: 'LOSE', is_deleted: false });
    expect(deals.get(deleted!)).toMatchObject({ is_deleted: true });
    // the line's new quantity, and the total that no longer adds up, kept with a warning
    const was = await my.query(`select quantity from order_items where order_id = ? order by id limit 1`, [Number(lineChanged)]) as Array<{ quantity: string }>;
    expect(Number(deals.get(lineChanged!)!.quantity)).toBe(Number(was[0]!.quantity));
    expect(await db.value(`select count(*) from etl.rejection where source = 'store_a' and entity = 'order' and source_key = $1 and reason = 'total_mismatch' and resolved_at is null`, [lineChanged])).toBe('1');
    // a sync with nothing new lands nothing
    const again = await landMysql(db.pool, { url: my.url, source: 'store_a', config: STORE_A, quiet: true });
    expect(again.tables.map((t) => t.landed)).toEqual([0, 0, 0]);
  });

  it('store A: a line without a usable change time (a zero date) makes its order read again by every sync, so its change is not missed', async () => {
    const key = Object.entries(sample.truth.store_a.orders).find(([, t]) => t.inn && !t.warnings && t.items! >= 2)![0];
    await my.query(`set session sql_mode = ''`);
    await my.query(`update order_items set price = 777.77, updated_at = '0000-00-00 00:00:00' where id = (select max(id) from order_items where order_id = ?)`, [Number(key)]);
    const sync = await landMysql(db.pool, { url: my.url, source: 'store_a', config: STORE_A, quiet: true });
    const orders = sync.tables.find((t) => t.entity === 'order')!;
    expect({ landed: orders.landed, undated: orders.undated }).toEqual({ landed: 1, undated: 1 });
    await runTransform(db.pool);
    expect(await db.value(`select i.price::text from canonical.deal_item i join canonical.deal d using (deal_id)
      where d.source = 'store_a' and d.source_key = $1 order by i.line_no desc limit 1`, [key])).toBe('777.77');
    // read again by the next sync, landed only if it changed
    const again = await landMysql(db.pool, { url: my.url, source: 'store_a', config: STORE_A, quiet: true });
    expect(again.tables.find((t) => t.entity === 'order')).toMatchObject({ landed: 0, undated: 1 });
  });

  it('a status mapped later by an analyst brings its orders in at the next transform', async () => {
    const unmapped = Object.entries(sample.truth.store_b.orders).filter(([, t]) => t.reason === 'stage_unmapped').map(([k]) => k);
    expect(unmapped.length).toBeGreaterThan(0);
    await db.pool.query(`insert into etl.deal_stage_map values ('store_b', 'on_review', 'PREPARATION', 'open')`);
    await runTransform(db.pool);
    const deals = await db.rows<{ source_key: string; stage_id: string }>(
      `select source_key, stage_id from canonical.deal where source = 'store_b' and source_key = any($1) and not is_deleted`, [unmapped]);
    // those in the window of accepted companies are deals now
    expect(deals.length).toBeGreaterThan(0);
    expect(deals.every((d) => d.stage_id === 'PREPARATION')).toBe(true);
    expect(await db.value(`select count(*) from etl.rejection where reason = 'stage_unmapped' and resolved_at is null and source = 'store_b'`)).toBe('0');
    // and taken back out when the row goes again
    await db.pool.query(`delete from etl.deal_stage_map where source = 'store_b' and source_status = 'on_review'`);
    await runTransform(db.pool);
    expect(await db.value(`select count(*) from canonical.deal where source = 'store_b' and source_key = any($1) and not is_deleted`, [unmapped])).toBe('0');
  });
});

describe('orders as stores really send them', () => {
  let db: TestDatabase;
  let sample: Sample;
  beforeAll(async () => {
    sample = await makeSample({ scale: 'small', seed: 9, companies: 200, contacts: 300, storeACompanies: 0, storeAContacts: 0, events: 0 });
    db = await createTestDatabase();
    await landSample(db.pool, sample);
    await runTransform(db.pool);
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** A store B order as raw JSON text (numbers JavaScript cannot hold stay as written). */
  const order = (key: string, companyKey: string, body: string) => ({
    sourceKey: key, updatedAt: isoMicros('2026-10-01T00:00:00Z'), isDeleted: false, payload: undefined,
    payloadText: `{"id":"${key}","number":"N-${key}","company_id":${companyKey === '' ? 'null' : `"${companyKey}"`},"status":"delivered","currency":"RUB","updated":"2026-10-01T00:00:00Z",${body}}`,
  });
  const item = '"items":[{"sku":"S1","name":"Болт","qty":2,"price":50}]';
  const rejections = async (key: string) => (await db.rows<{ reason: string; value: string | null }>(
    `select reason, value from etl.rejection where entity = 'order' and source_key = $1 and resolved_at is null order by reason`, [key]));

  it('a number past what a column holds, a date that is no date, items that are no list: rejected with the value, and the transform goes on', async () => {
    const company = Object.entries(sample.truth.store_b.companies).find(([, t]) => t.inn)![0];
    await landBatch(db.pool, { source: 'store_b', entity: 'order', origin: 'test' }, [
      order('H-BIG', company, `"total":12345678901234567890,"created":"2026-03-01T10:00:00+03:00",${item}`),
      order('H-INF', company, `"total":1e400,"created":"2026-03-01T10:00:00+03:00",${item}`),
      order('H-LINE', company, `"total":"100.00","created":"2026-03-01T10:00:00+03:00","items":[{"sku":"S1","name":"Болт","qty":1e30,"price":1e30}]`),
      order('H-QTY', company, `"total":"1,00","created":"2026-03-01T10:00:00+03:00","items":[{"sku":"S1","name":"Гвоздь","qty":"0,125","price":8}]`),
      order('H-DMY', company, `"total":"100.00","created":"01.02.2025",${item}`),
      order('H-NOW', company, `"total":"100.00","created":"infinity",${item}`),
      order('H-FUT', company, `"total":"100.00","created":"2099-06-01",${item}`),
      order('H-OBJ', company, `"total":"100.00","created":"2026-03-01T10:00:00+03:00","items":{"sku":"S1","name":"Болт","qty":2,"price":50}`),
      order('H-RUB', company, `"total":"100.00","created":"2026-03-01","items":[{"sku":"S1","name":"Болт","qty":2,"price":50}]`.replace('"RUB"', '"руб"')),
      order('H-NOCO', '', `"total":"100.00","created":"2026-03-01T10:00:00+03:00",${item}`),
      // rounds to a fifteenth digit; items a string (a line of no shape as well as no list); items null
      order('H-ROUND', company, `"total":"99999999999999.999","created":"2026-03-01T10:00:00+03:00",${item}`),
      order('H-STR', company, `"total":"100.00","created":"2026-03-01T10:00:00+03:00","items":"S1 x2 50"`),
      order('H-NULL', company, `"total":"100.00","created":"2026-03-01T10:00:00+03:00","items":null`),
    ].map((r) => (r.sourceKey === 'H-RUB' ? { ...r, payloadText: r.payloadText.replace('"currency":"RUB"', '"currency":"руб"') } : r)));
    // a company change in the same run is transformed too
    const { rows: [companyRow] } = await db.pool.query<{ payload: Record<string, unknown> }>(
      `select payload from staging.current_version where source = 'store_b' and entity = 'company' and source_key = $1`, [company]);
    await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [{
      sourceKey: company, updatedAt: isoMicros('2026-11-05T00:00:00Z'), isDeleted: false, payload: { ...companyRow!.payload, title: 'ООО «Переименованная в тот же раз»', updated: '2026-11-05T00:00:00Z' },
    }]);
    await runTransform(db.pool);
    expect(await db.value(`select count(*) from staging.batch where transformed_at is null`)).toBe('0');
    expect(await db.value(`select count(*) from canonical.company where name = 'ООО «Переименованная в тот же раз»'`)).toBe('1');
    expect(await rejections('H-BIG')).toEqual([{ reason: 'amount_invalid', value: '12345678901234567890' }]);
    expect((await rejections('H-INF')).map((r) => r.reason)).toEqual(['amount_invalid']);
    expect((await rejections('H-LINE')).map((r) => r.reason)).toEqual(['item_invalid']);
    expect(await rejections('H-DMY')).toEqual([{ reason: 'created_unparseable', value: '01.02.2025' }]);
    expect(await rejections('H-NOW')).toEqual([{ reason: 'created_unparseable', value: 'infinity' }]);
    expect(await rejections('H-FUT')).toEqual([{ reason: 'created_in_future', value: '2099-06-01' }]);
    expect((await rejections('H-OBJ')).map((r) => r.reason)).toEqual(['item_invalid']);
    expect(await rejections('H-ROUND')).toEqual([{ reason: 'amount_invalid', value: '99999999999999.999' }]);
    expect((await rejections('H-STR')).map((r) => r.reason)).toEqual(['item_invalid']);
    expect(await rejections('H-NULL')).toEqual([{ reason: 'total_mismatch', value: '100.00' }]);
    expect(await db.value(`select detail from etl.rejection where source_key = 'H-NOCO' and reason = 'company_missing'`)).toBe('it names no company (its company id is empty)');
    // kept as written: a quantity of three places, a rouble written in Russian
    expect(await rejections('H-QTY')).toEqual([]);
    expect(await db.value(`select i.quantity::text from canonical.deal_item i join canonical.deal d using (deal_id) where d.source_key = 'H-QTY'`)).toBe('0.125');
    expect(await db.value(`select currency || ' ' || to_char(begin_at at time zone 'Europe/Moscow', 'YYYY-MM-DD HH24:MI') from canonical.deal where source_key = 'H-RUB'`)).toBe('RUB 2026-03-01 00:00');
    // the analysts' views stand
    expect(Number(await db.value(`select count(*) from analytics.revenue_by_company_year`))).toBeGreaterThan(0);
  });

  it('the stage map: a status matched without regard to case and spaces, a stage id checked, a TRUNCATE seen by the next run', async () => {
    await expect(db.pool.query(`insert into etl.deal_stage_map values ('store_b', 'archived', 'bogus stage', 'open')`)).rejects.toThrow(/deal_stage_map_stage_id_check/);
    await expect(db.pool.query(`insert into etl.deal_stage_map values ('store_b', ' Delivered ', 'WON', 'won')`)).rejects.toThrow(/deal_stage_map_status_idx/);
    await db.pool.query(`insert into etl.deal_stage_map values ('store_b', ' On_Review ', 'PREPARATION', 'open')`);
    await runTransform(db.pool);
    expect(Number(await db.value(`select count(*) from canonical.deal where stage_id = 'PREPARATION' and not is_deleted`))).toBeGreaterThan(0);
    const lost = Number(await db.value(`select count(*) from canonical.deal where stage_id = 'LOSE' and not is_deleted`));
    expect(lost).toBeGreaterThan(0);
    // the map emptied and filled again without one status: the incremental run agrees with a full one
    await db.pool.query(`begin; create temp table m as select * from etl.deal_stage_map; truncate etl.deal_stage_map;
      insert into etl.deal_stage_map select * from m where source_status <> 'canceled'; commit`);
    await runTransform(db.pool);
    expect(await db.value(`select count(*) from canonical.deal where stage_id = 'LOSE' and not is_deleted`)).toBe('0');
    const state = `select string_agg(source_key || ':' || stage_id || ':' || is_deleted, ',' order by source_key) from canonical.deal`;
    const incremental = await db.value(state);
    await runTransform(db.pool, { full: true });
    expect(await db.value(state)).toBe(incremental);
  });

  it('reads an order\'s creation time strictly: a day, an hour or an offset that does not exist is no time, and never an error', async () => {
    const cases: Array<[string, string | null]> = [
      ['2026-03-01T10:00:00+03:00', '2026-03-01T07:00:00.000Z'],
      ['2026-03-01 10:00Z', '2026-03-01T10:00:00.000Z'],
      ['2026-03-01T10:00:00.123456+0300', '2026-03-01T07:00:00.123Z'],
      ['2026-03-01T10:00:00-05', '2026-03-01T15:00:00.000Z'],
      ['2026-03-01', '2026-02-28T21:00:00.000Z'], // that day in Moscow
      ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'], ['2000-02-29T12:00:00Z', '2000-02-29T12:00:00.000Z'],
      ['2025-12-31T23:59:59.5+03:00', '2025-12-31T20:59:59.500Z'], ['1900-02-29T12:00:00Z', null], ['2025-06-31', null],
      ['2025-02-29T12:00:00Z', null], ['2025-02-30', null], ['2025-04-31', null], ['2025-13-01', null], ['2025-00-10', null],
      ['0000-01-01', null], ['2025-01-01T24:00:00Z', null], ['2025-01-01T10:60:00Z', null], ['2025-01-01T10:00:61Z', null],
      ['2025-01-01T10:00:00+16:00', null], ['2025-01-01T10:00:00+03:61', null], ['2025-01-01T10:00:00', null],
      ['01.02.2025', null], ['infinity', null], ['now', null], ['', null], [' ', null],
    ];
    const { rows } = await db.pool.query<{ given: string; at: Date | null }>(
      `select given, etl.parse_order_time(given) as at from unnest($1::text[]) as given`, [cases.map(([given]) => given)]);
    expect(rows.map((r) => [r.given, r.at?.toISOString() ?? null])).toEqual(cases);
    // parallel safe in truth: a query the planner runs in parallel workers reads every order view
    const client = await db.pool.connect();
    try {
      await client.query(`set parallel_setup_cost = 0; set parallel_tuple_cost = 0; set min_parallel_table_scan_size = 0;
        set max_parallel_workers_per_gather = 2; set force_parallel_mode = on`);
      const plan = (await client.query(`explain select count(source_created_at) from staging.order_version`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/Gather/);
      const counted = await client.query(`select count(source_created_at) as n from staging.order_version`);
      expect(Number(counted.rows[0].n)).toBeGreaterThan(0);
    } finally {
      await client.query('reset all');
      client.release();
    }
  });

  it('an orders file landed as contacts makes no blank people', async () => {
    const before = await db.value(`select count(*) from canonical.contact`);
    await landFile(db.pool, { path: join(sample.dir, 'store_b_orders.json'), source: 'store_b', entity: 'contact', encoding: 'utf8', fields: { key: 'id', updated: 'updated' }, quiet: true });
    await runTransform(db.pool);
    expect(await db.value(`select count(*) from canonical.contact`)).toBe(before);
    expect(Number(await db.value(`select count(*) from etl.rejection where entity = 'contact' and reason = 'contact_empty' and resolved_at is null`)))
      .toBe(Object.keys(sample.truth.store_b.orders).length);
  });
});
