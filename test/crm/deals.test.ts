import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { dealValues, type DealOut } from '../../src/crm/deals.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import { startCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { cliEnv, portalKey, readySample, rest, testPortal, type TestPortal } from './helpers.js';

// Orders as deals in the sandbox portal: one deal per ready order, under its company and
// contact, dated by the order, with its product rows; no duplicate whatever happens to an answer.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(47, { companies: 160, contacts: 400 }));
});
afterAll(async () => {
  await db?.drop();
});

const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };
const fastLimits = { limits: { drain: 50 } };
const WRITE = /\.(add|update|delete|set|import|batchimport)$/;

/** Methods the portal ran from call id `after` on, batches opened up. */
async function methods(portal: TestPortal, after = 0): Promise<string[]> {
  const { rows } = await portal.db.query<{ method: string }>(`
    select lower(coalesce(cc.method, c.method)) as method from call c left join call_command cc on cc.call_id = c.id
    where c.id > $1 and c.status = 200 order by c.id, cc.position`, [after]);
  return rows.map((r) => r.method);
}
const lastCall = async (portal: TestPortal) => Number((await portal.db.query<{ id: string | null }>('select max(id) as id from call')).rows[0]!.id ?? 0);

interface HeldDeal {
  origin: string;
  n: number;
  company_origin: string | null;
  contact_origin: string | null;
  stage: string;
  amount: string;
  currency: string;
  begindate: string;
  closedate: string;
  via: string;
  created_at: Date;
  rows: string;
}

/** The portal's deals by our ids, with their company's and contact's ids of ours and their product rows. */
async function heldDeals(portal: TestPortal): Promise<Map<string, HeldDeal>> {
  const { rows } = await portal.db.query<HeldDeal>(`
    select d.fields ->> 'ORIGIN_ID' as origin, (count(*) over (partition by d.fields ->> 'ORIGIN_ID'))::int as n,
      co.origin_id as company_origin, ct.origin_id as contact_origin, d.fields ->> 'STAGE_ID' as stage,
      d.fields ->> 'OPPORTUNITY' as amount, d.fields ->> 'CURRENCY_ID' as currency, left(d.fields ->> 'BEGINDATE', 10) as begindate,
      left(d.fields ->> 'CLOSEDATE', 10) as closedate, d.created_via as via, d.created_at,
      coalesce((select string_agg(concat_ws('|', r.fields ->> 'PRODUCT_NAME', (r.fields ->> 'PRICE')::numeric::text, (r.fields ->> 'QUANTITY')::numeric::text), ';' order by r.id)
                from deal_product_row r where r.deal_id = d.id), '') as rows
    from deal d
    left join company co on co.id = (d.fields ->> 'COMPANY_ID')::bigint
    left join contact ct on ct.id = nullif(d.fields ->> 'CONTACT_ID', '')::bigint`);
  return new Map(rows.map((r) => [r.origin, r]));
}

interface WantedDeal {
  deal_id: string;
  company_id: string;
  contact_id: string | null;
  stage_id: string;
  amount: string;
  currency: string;
  begindate: string;
  closedate: string;
  begin_at: Date;
  rows: string;
}

const wantedDeals = () => db.rows<WantedDeal>(`
  select d.deal_id::text, d.company_id::text, d.contact_id::text, d.stage_id, d.amount::text, d.currency,
    to_char(d.begin_at at time zone 'Europe/Moscow', 'YYYY-MM-DD') as begindate,
    -- closed: the day it closed; open: the day it was placed plus seven
    to_char(coalesce((d.close_at at time zone 'Europe/Moscow')::date, (d.begin_at at time zone 'Europe/Moscow')::date + 7), 'YYYY-MM-DD') as closedate,
    d.begin_at,
    coalesce((select string_agg(concat_ws('|', i.name, i.price::numeric::text, i.quantity::numeric::text), ';' order by i.line_no)
              from canonical.deal_item i where i.deal_id = d.deal_id), '') as rows
  from etl.crm_deal_out d order by d.begin_at, d.deal_id`);

/** What differs between the deals the clean base has for the CRM and what the portal holds (each once). */
async function dealMismatches(portal: TestPortal): Promise<string[]> {
  const held = await heldDeals(portal);
  const problems: string[] = [];
  const wanted = await wantedDeals();
  for (const w of wanted) {
    const h = held.get(w.deal_id);
    if (!h) {
      problems.push(`deal ${w.deal_id}: not in the portal`);
      continue;
    }
    const norm = (rows: string) => rows.split(';').map((r) => r.split('|').map((v, i) => (i === 0 ? v : String(Number(v)))).join('|')).join(';');
    const got = { n: h.n, company: h.company_origin, contact: h.contact_origin, stage: h.stage, amount: Number(h.amount).toFixed(2), currency: h.currency, begindate: h.begindate, closedate: h.closedate, rows: norm(h.rows) };
    const want = { n: 1, company: w.company_id, contact: w.contact_id, stage: w.stage_id, amount: Number(w.amount).toFixed(2), currency: w.currency, begindate: w.begindate, closedate: w.closedate, rows: norm(w.rows) };
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`deal ${w.deal_id}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  if (held.size !== wanted.length) problems.push(`the portal holds ${held.size} deals, the clean base has ${wanted.length} for it`);
  // and each is linked, as pushed: the next push has nothing to do for it
  const { rows: [links] } = await db.pool.query<{ linked: number; current: number }>(`
    select count(*)::int as linked, count(*) filter (where l.pushed_hash = o.out_hash)::int as current
    from etl.crm_link l join etl.crm_deal_out o on o.deal_id = l.canonical_id
    where l.portal = $1 and l.entity = 'deal' and l.state = 'linked'`, [portalKey(portal)]);
  if (links!.linked !== wanted.length || links!.current !== wanted.length) problems.push(`linked deals: ${JSON.stringify(links)}, expected ${wanted.length} linked and current`);
  return problems;
}

/** A store B order landed as its file would carry it, then transformed. */
async function landOrder(key: string, companyKey: string, fields: { status: string; total: string; created: string; updated: string; items: Array<{ name: string; qty: number; price: number }>; contactKey?: string }): Promise<void> {
  const payload = { id: key, number: `T-${key}`, company_id: companyKey, ...(fields.contactKey ? { contact_id: fields.contactKey } : {}), status: fields.status, total: fields.total, currency: 'RUB', created: fields.created, updated: fields.updated,
    items: fields.items.map((i, n) => ({ sku: `SKU-T${n}`, name: i.name, qty: i.qty, price: i.price })) };
  await landBatch(db.pool, { source: 'store_b', entity: 'order', origin: 'test' }, [{ sourceKey: key, updatedAt: isoMicros(fields.updated), isDeleted: false, payload }]);
  await runTransform(db.pool);
}

/** A store B company whose deals go to the CRM (ready, in etl.crm_company_out), by its record key. */
const readyCompanyKey = () => db.value<string>(`
  select cs.source_key from canonical.company_source cs join etl.crm_company_out o using (company_id)
  where cs.source = 'store_b' order by cs.source_key limit 1`);

describe('deals in the sandbox portal', () => {
  let portal: TestPortal;
  beforeAll(async () => {
    portal = await testPortal(db, fast);
  });
  afterAll(async () => {
    await portal?.stop();
  });

  it('one deal per ready order, by import in the order of its date, under its company and contact, with its rows; a second push writes nothing', async () => {
    const wanted = await wantedDeals();
    expect(wanted.length).toBeGreaterThan(100);
    expect(wanted.some((w) => w.contact_id !== null)).toBe(true);
    const result = await portal.push(fastLimits);
    expect(result.stats.deal).toMatchObject({ created: wanted.length, failed: 0 });
    expect(result.stats.dealsDatedLater).toBe(0);
    expect((await dealMismatches(portal)).slice(0, 5)).toEqual([]);
    // imported (no automation), created when the order was placed, in that order
    const held = await heldDeals(portal);
    expect([...held.values()].every((h) => h.via === 'import')).toBe(true);
    const created = wanted.map((w) => held.get(w.deal_id)!.created_at.getTime());
    expect(created).toEqual(wanted.map((w) => w.begin_at.getTime()));
    // the portal's own stages, read once
    expect((await methods(portal)).filter((m) => m === 'crm.status.list')).toHaveLength(1);

    const before = await lastCall(portal);
    const again = await portal.push(fastLimits);
    expect(again.stats.deal).toMatchObject({ created: 0, updated: 0, unchanged: wanted.length });
    expect((await methods(portal, before)).filter((m) => WRITE.test(m))).toEqual([]);
  });

  it('a changed order is one update; a manager\'s edit of a deal stands; an order older than the deals there keeps its date in BEGINDATE', async () => {
    // an open order: its deal went in with the day it was placed plus seven as CLOSEDATE
    const first = { deal_id: await db.value<string>(`select deal_id::text from etl.crm_deal_out where outcome = 'open' and source = 'store_b' order by begin_at, deal_id limit 1`) };
    const key = await db.value<string>('select source_key from canonical.deal where deal_id = $1', [first!.deal_id]);
    const linked = await db.value<string>(`select bitrix_id::text from etl.crm_link where portal = $1 and entity = 'deal' and canonical_id = $2`, [portalKey(portal), first!.deal_id]);
    const placed = await db.value<string>(`select to_char((begin_at at time zone 'Europe/Moscow')::date + 7, 'YYYY-MM-DD') from canonical.deal where deal_id = $1`, [first!.deal_id]);
    expect(String((await rest(portal, 'crm.deal.get', { id: Number(linked) })).CLOSEDATE).slice(0, 10)).toBe(placed);
    // a manager renames the deal in the CRM
    await rest(portal, 'crm.deal.update', { id: Number(linked), fields: { TITLE: 'Переговоры по допоставке' } });
    // the store cancels the order: a new version, newer than the file's
    const { rows: [order] } = await db.pool.query<{ payload: Record<string, unknown>; source: string }>(
      `select payload, source from staging.current_version where entity = 'order' and source_key = $1 and payload is not null`, [key]);
    expect(order!.source).toBe('store_b');
    const payload = { ...order!.payload, status: 'canceled', updated: '2026-11-20T10:00:00+03:00' };
    await landBatch(db.pool, { source: 'store_b', entity: 'order', origin: 'test' }, [{ sourceKey: key, updatedAt: isoMicros('2026-11-20T10:00:00+03:00'), isDeleted: false, payload }]);
    await runTransform(db.pool);
    const before = await lastCall(portal);
    const result = await portal.push(fastLimits);
    expect(result.stats.deal).toMatchObject({ created: 0, updated: 1, failed: 0 });
    expect((await methods(portal, before)).filter((m) => WRITE.test(m))).toEqual(['crm.deal.update']);
    const deal = await rest(portal, 'crm.deal.get', { id: Number(linked) });
    // closed: the day the store closed it replaces the expected one
    expect({ stage: deal.STAGE_ID, title: deal.TITLE, closed: String(deal.CLOSEDATE).slice(0, 10) })
      .toEqual({ stage: 'LOSE', title: 'Переговоры по допоставке', closed: '2026-11-20' });

    // an old order that reaches the warehouse after newer ones were pushed
    const companyKey = await readyCompanyKey();
    await landOrder('BO-LATE-1', companyKey, {
      status: 'delivered', total: '1500.00', created: '2025-02-03T11:00:00+03:00', updated: '2025-02-04T11:00:00+03:00',
      items: [{ name: 'Папка-регистратор', qty: 10, price: 150 }],
    });
    const late = await portal.push(fastLimits);
    expect(late.stats.deal).toMatchObject({ created: 1, failed: 0 });
    expect(late.stats.dealsDatedLater).toBe(1);
    expect((await dealMismatches(portal)).slice(0, 5)).toEqual([]);
    const lateId = await db.value<string>(`select deal_id::text from canonical.deal where source_key = 'BO-LATE-1'`);
    const held = (await heldDeals(portal)).get(lateId)!;
    expect(held.begindate).toBe('2025-02-03');
    const newest = Math.max(...[...(await heldDeals(portal)).values()].filter((h) => h.origin !== lateId).map((h) => h.created_at.getTime()));
    expect(held.created_at.getTime()).toBeGreaterThanOrEqual(newest);
  });

  it('a deal\'s close date follows from its order alone: closed, pushed and reopened holds what a deal created open holds; a manager\'s close date stands', async () => {
    const companyKey = await readyCompanyKey();
    const items = [{ name: 'Скобы для степлера №24/6', qty: 20, price: 35 }];
    const closeDate = async (key: string) => {
      const id = await db.value<string>(`select l.bitrix_id::text from etl.crm_link l join canonical.deal d on d.deal_id = l.canonical_id
        where l.portal = $1 and l.entity = 'deal' and d.source_key = $2`, [portalKey(portal), key]);
      return { id: Number(id), day: String((await rest(portal, 'crm.deal.get', { id: Number(id) })).CLOSEDATE).slice(0, 10) };
    };
    // delivered, pushed closed; then the store reopens it
    await landOrder('BO-RE-1', companyKey, { status: 'delivered', total: '700.00', created: '2026-10-01T10:00:00+03:00', updated: '2026-10-05T10:00:00+03:00', items });
    await portal.push(fastLimits);
    expect((await closeDate('BO-RE-1')).day).toBe('2026-10-05');
    await landOrder('BO-RE-1', companyKey, { status: 'paid', total: '700.00', created: '2026-10-01T10:00:00+03:00', updated: '2026-10-06T10:00:00+03:00', items });
    // the same order, open from the start
    await landOrder('BO-RE-2', companyKey, { status: 'paid', total: '700.00', created: '2026-10-01T10:00:00+03:00', updated: '2026-10-06T10:00:00+03:00', items });
    const result = await portal.push(fastLimits);
    expect(result.stats.deal).toMatchObject({ created: 1, updated: 1, failed: 0 });
    const reopened = await closeDate('BO-RE-1');
    const open = await closeDate('BO-RE-2');
    expect([reopened.day, open.day]).toEqual(['2026-10-08', '2026-10-08']);

    // a manager expects the open deal to close at the year's end; a change of the order leaves that
    await rest(portal, 'crm.deal.update', { id: open.id, fields: { CLOSEDATE: '2026-12-31' } });
    await landOrder('BO-RE-2', companyKey, { status: 'paid', total: '770.00', created: '2026-10-01T10:00:00+03:00', updated: '2026-10-07T10:00:00+03:00', items: [...items, { name: 'Степлер', qty: 1, price: 70 }] });
    const before = await lastCall(portal);
    expect((await portal.push(fastLimits)).stats.deal).toMatchObject({ created: 0, updated: 1, failed: 0 });
    expect((await methods(portal, before)).filter((m) => WRITE.test(m))).toEqual(['crm.deal.update', 'crm.item.productrow.set']);
    const edited = await rest(portal, 'crm.deal.get', { id: open.id });
    expect({ close: String(edited.CLOSEDATE).slice(0, 10), amount: Number(edited.OPPORTUNITY) }).toEqual({ close: '2026-12-31', amount: 770 });
    // (the manager puts it back, so the portal matches the clean base for the tests that follow)
    await rest(portal, 'crm.deal.update', { id: open.id, fields: { CLOSEDATE: '2026-10-08' } });
    expect((await dealMismatches(portal)).slice(0, 5)).toEqual([]);
  });

  it('a deal pushed open by an earlier version (no close date pushed) keeps the CRM\'s close date while the order is open; the day it closes replaces it', async () => {
    const companyKey = await readyCompanyKey();
    const items = [{ name: 'Клей-карандаш', qty: 50, price: 40 }];
    const order = { total: '2000.00', created: '2026-09-01T10:00:00+03:00', items };
    await landOrder('BO-OLD-1', companyKey, { ...order, status: 'paid', updated: '2026-09-01T10:00:00+03:00' });
    await portal.push(fastLimits);
    const dealId = await db.value<string>(`select deal_id::text from canonical.deal where source_key = 'BO-OLD-1'`);
    const bitrixId = Number(await db.value<string>(`select bitrix_id::text from etl.crm_link where portal = $1 and entity = 'deal' and canonical_id = $2`, [portalKey(portal), dealId]));
    // as the earlier version left it: no CLOSEDATE pushed, and the CRM holding a date of its own (the portal's default or a manager's)
    await db.pool.query(`update etl.crm_link set pushed = jsonb_set(pushed, '{fields}', (pushed -> 'fields') - 'CLOSEDATE')
      where portal = $1 and entity = 'deal' and canonical_id = $2`, [portalKey(portal), dealId]);
    await rest(portal, 'crm.deal.update', { id: bitrixId, fields: { CLOSEDATE: '2026-09-30' } });

    // the open order changes: its amount goes in, the CRM's close date stays
    await landOrder('BO-OLD-1', companyKey, { ...order, total: '2100.00', status: 'paid', updated: '2026-09-02T10:00:00+03:00' });
    expect((await portal.push(fastLimits)).stats.deal).toMatchObject({ updated: 1, failed: 0 });
    const changed = await rest(portal, 'crm.deal.get', { id: bitrixId });
    expect({ close: String(changed.CLOSEDATE).slice(0, 10), amount: Number(changed.OPPORTUNITY) }).toEqual({ close: '2026-09-30', amount: 2100 });

    // delivered: the day it closed replaces it
    await landOrder('BO-OLD-1', companyKey, { ...order, total: '2100.00', status: 'delivered', updated: '2026-09-05T10:00:00+03:00' });
    expect((await portal.push(fastLimits)).stats.deal).toMatchObject({ updated: 1, failed: 0 });
    expect(String((await rest(portal, 'crm.deal.get', { id: bitrixId })).CLOSEDATE).slice(0, 10)).toBe('2026-09-05');
    expect((await dealMismatches(portal)).slice(0, 5)).toEqual([]);
  });

  it('an import whose answer is lost makes no duplicate, and a rows change is set again', async () => {
    const companyKey = await readyCompanyKey();
    for (let i = 1; i <= 3; i++) {
      await landOrder(`BO-LOST-${i}`, companyKey, {
        status: 'paid', total: `${i}00.00`, created: `2026-11-0${i}T09:00:00+03:00`, updated: `2026-11-0${i}T09:00:00+03:00`,
        items: [{ name: 'Бумага офисная А4, 500 л.', qty: i, price: 100 }],
      });
    }
    portal.sandbox.inject({ kind: 'drop', method: 'crm.item.batchImport', times: 1 }, { kind: 'drop', method: 'crm.item.productrow.set', times: 1 });
    const result = await portal.push(fastLimits);
    expect(result.stats.unknownOutcomes).toBeGreaterThan(0);
    expect(result.stats.duplicatesFound).toBe(0);
    expect((await dealMismatches(portal)).slice(0, 5)).toEqual([]);
    const { rows } = await portal.db.query<{ n: number }>(`select count(*)::int as n from call where fault is not null`);
    expect(rows[0]!.n).toBe(2);
  });

  it('an order that no longer names its contact takes that contact off the deal (crm.deal.contact.delete), once, and a manager\'s stays', async () => {
    // a store B contact of a ready company, in the CRM
    const { rows: [pick] } = await db.pool.query<{ company_key: string; contact_key: string }>(`
      select sc.company_key, sc.source_key as contact_key
      from etl.source_contact sc
      join canonical.contact_source cs on cs.source = sc.source and cs.entity = 'contact' and cs.source_key = sc.source_key
      join etl.crm_link l on l.entity = 'contact' and l.canonical_id = cs.contact_id and l.state = 'linked' and l.portal = $1
      join etl.crm_company_out o on o.company_id = sc.company_id
      where sc.source = 'store_b' and sc.is_accepted order by sc.source_key limit 1`, [portalKey(portal)]);
    expect(pick).toBeDefined();
    const order = { status: 'paid', total: '700.00', created: '2026-11-10T09:00:00+03:00', items: [{ name: 'Тонер-картридж', qty: 1, price: 700 }] };
    await landOrder('BO-CT-1', pick!.company_key, { ...order, updated: '2026-11-10T09:00:00+03:00', contactKey: pick!.contact_key });
    const dealId = await db.value<string>(`select deal_id::text from canonical.deal where source_key = 'BO-CT-1'`);
    expect(await db.value(`select contact_id from canonical.deal where deal_id = $1`, [dealId])).not.toBeNull();
    await portal.push(fastLimits);
    expect((await heldDeals(portal)).get(dealId)!.contact_origin).not.toBeNull();

    // a manager adds a person of their own to the deal, after ours
    const deal = await db.value<string>(`select bitrix_id::text from etl.crm_link where portal = $1 and entity = 'deal' and canonical_id = $2`, [portalKey(portal), dealId]);
    const ours = Number((await rest(portal, 'crm.deal.get', { id: Number(deal) })).CONTACT_ID);
    const theirs = Number(await rest(portal, 'crm.contact.add', { fields: { NAME: 'Ирина', LAST_NAME: 'Менеджерова' } }));
    await rest(portal, 'crm.deal.update', { id: Number(deal), fields: { CONTACT_IDS: [ours, theirs] } });

    await landOrder('BO-CT-1', pick!.company_key, { ...order, updated: '2026-11-11T09:00:00+03:00' });
    const before = await lastCall(portal);
    const result = await portal.push(fastLimits);
    expect(result.stats.deal).toMatchObject({ created: 0, updated: 1, failed: 0 });
    expect((await methods(portal, before)).filter((m) => WRITE.test(m))).toEqual(['crm.deal.contact.delete']);
    // ours is off the deal, the manager's stays
    expect(Number((await rest(portal, 'crm.deal.get', { id: Number(deal) })).CONTACT_ID)).toBe(theirs);
    const after = await lastCall(portal);
    expect((await portal.push(fastLimits)).stats.deal).toMatchObject({ created: 0, updated: 0, failed: 0 });
    expect((await methods(portal, after)).filter((m) => WRITE.test(m))).toEqual([]);
  });

  it('kill -9 of the pusher after the portal wrote deals and before it answered, then a rerun: every deal once', async () => {
    const fresh = await testPortal(db, fast);
    try {
      fresh.sandbox.inject({ kind: 'latency', ms: 200, method: 'batch', times: 1000 });
      const env = cliEnv(fresh, { bucketSize: 50, drain: 50 });
      const run = startCli(['push', '--progress-seconds', '0'], db.url, env);
      // killed once the portal has written deals and before their answer is back (each answer waits 200 ms)
      for (let i = 0; i < 2400; i++) {
        if (Number((await fresh.db.query('select count(*) from deal')).rows[0].count) > 0) break;
        await sleep(10);
      }
      run.child.kill('SIGKILL');
      expect((await run.done).signal).toBe('SIGKILL');
      const written = Number((await fresh.db.query('select count(*) from deal')).rows[0].count);
      const linked = Number(await db.value(`select count(*) from etl.crm_link where portal = $1 and entity = 'deal' and state = 'linked'`, [portalKey(fresh)]));
      expect(written).toBeGreaterThan(linked);
      const rerun = await fresh.push(fastLimits);
      expect(rerun.stats.duplicatesFound).toBe(0);
      expect((await dealMismatches(fresh)).slice(0, 5)).toEqual([]);
    } finally {
      await fresh.stop();
    }
  });
});

describe('an open deal\'s close date', () => {
  const deal = (begin: string, close: string | null): DealOut => ({
    deal_id: '1', company_id: '1', contact_id: null, title: 'Заказ T-1 (магазин B)', stage_id: 'EXECUTING', outcome: close ? 'won' : 'open', amount: '100.00', currency: 'RUB',
    begin_at: new Date(begin), close_at: close ? new Date(close) : null, source: 'store_b', source_key: 'T-1', rows: [], out_hash: 'x',
  });

  it('is the order\'s day in Moscow plus seven calendar days, also across a clock change of the years before 2014; a closed one\'s is the day it closed', () => {
    // 2010-03-28 02:00 Moscow went to 03:00: the week after 2010-03-21 23:30 had 167 hours
    expect(dealValues(deal('2010-03-21T23:30:00+03:00', null))).toMatchObject({ BEGINDATE: '2010-03-21', CLOSEDATE: '2010-03-28' });
    // 2010-10-31 03:00 went back to 02:00: that week had 169 hours
    expect(dealValues(deal('2010-10-25T00:30:00+04:00', null))).toMatchObject({ BEGINDATE: '2010-10-25', CLOSEDATE: '2010-11-01' });
    // late in the evening in Moscow is the next day in UTC, and the turn of a year
    expect(dealValues(deal('2026-12-27T22:30:00Z', null))).toMatchObject({ BEGINDATE: '2026-12-28', CLOSEDATE: '2027-01-04' });
    expect(dealValues(deal('2026-02-24T10:00:00+03:00', '2026-03-02T10:00:00+03:00'))).toMatchObject({ BEGINDATE: '2026-02-24', CLOSEDATE: '2026-03-02' });
  });
});
