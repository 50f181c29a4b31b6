import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/db.js';
import { portalKey, readySample, rest, testPortal, type TestPortal } from './helpers.js';

// Linked entities over later pushes: a requisite that changed, a part added whose answer was
// lost, an entity a manager renamed away from our key or deleted while a push was in the
// dark, a person a manager entered before the store sent them.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(45, { companies: 220, contacts: 700 }));
});
afterAll(async () => {
  await db?.drop();
});

const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };
const fastLimits = { limits: { drain: 50 } };

/** Methods the portal ran that write, batches opened up, after call id `after`. */
async function writes(portal: TestPortal, after: number): Promise<string[]> {
  const { rows } = await portal.db.query<{ method: string }>(`
    select lower(coalesce(cc.method, c.method)) as method from call c left join call_command cc on cc.call_id = c.id
    where c.id > $1 and c.status in (0, 200) order by c.id, cc.position`, [after]);
  return rows.map((r) => r.method).filter((m) => /\.(add|update|delete|set|import|batchimport)$/.test(m));
}
const lastCall = async (portal: TestPortal) => Number((await portal.db.query<{ id: string | null }>('select max(id) as id from call')).rows[0]!.id ?? 0);

interface LinkedCompany { company_id: string; bitrix_id: string; requisite_id: string }

async function linkedCompanies(portal: TestPortal, where: string, limit: number): Promise<LinkedCompany[]> {
  return db.rows<LinkedCompany>(`
    select c.company_id::text, l.bitrix_id::text, l.requisite_id::text from canonical.company c
    join etl.crm_link l on l.entity = 'company' and l.canonical_id = c.company_id and l.portal = $1
    where l.state = 'linked' and ${where} order by c.company_id limit ${limit}`, [portalKey(portal)]);
}

describe('linked entities over later pushes', () => {
  it('why tells, under the canonical company and each contact record, which CRM entity it is, how it got there and whether it is up to date', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push({ ...fastLimits, limit: 40 });
      const [target] = await db.rows<{ company_id: string; inn: string; bitrix_id: string; contact_key: string; contact_bitrix: string }>(`
        select c.company_id::text, c.inn, l.bitrix_id::text, cs.source || ':' || cs.source_key as contact_key, kl.bitrix_id::text as contact_bitrix
        from canonical.company c
        join etl.crm_link l on l.entity = 'company' and l.canonical_id = c.company_id and l.portal = $1 and l.state = 'linked'
        join canonical.contact ct on ct.company_id = c.company_id
        join canonical.contact_source cs on cs.contact_id = ct.contact_id
        join etl.crm_link kl on kl.entity = 'contact' and kl.canonical_id = ct.contact_id and kl.portal = $1
        order by c.company_id limit 1`, [portalKey(portal)]);
      const host = portalKey(portal);
      const company = await runCli(['why', target!.inn], db.url);
      expect(company.code, company.stderr).toBe(0);
      expect(company.stdout).toMatch(new RegExp(`crm\\s+CRM company ${target!.bitrix_id} on ${host.replace(/\./g, '\\.')}: created by import, last pushed \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d; up to date`));
      const contact = await runCli(['why', target!.contact_key], db.url);
      expect(contact.stdout).toMatch(new RegExp(`crm\\s+CRM contact ${target!.contact_bitrix} on ${host.replace(/\./g, '\\.')}: created by import, .*; up to date`));

      // a changed row, and one a push left in the dark, say so
      await db.pool.query(`update canonical.company set name = name || ' (изм.)' where company_id = $1`, [target!.company_id]);
      try {
        expect((await runCli(['why', target!.inn], db.url)).stdout).toMatch(/crm\s+CRM company \d+ on .*; changed since, sent by the next push/);
      } finally {
        await db.pool.query(`update canonical.company set name = left(name, length(name) - length(' (изм.)')) where company_id = $1`, [target!.company_id]);
      }
      const [waiting] = await db.rows<{ inn: string }>(`select c.inn from canonical.company c join etl.crm_company_out o using (company_id)
        where not exists (select from etl.crm_link l where l.entity = 'company' and l.canonical_id = c.company_id) order by c.company_id limit 1`);
      expect((await runCli(['why', waiting!.inn], db.url)).stdout).toMatch(/crm\s+not pushed to a CRM yet \(ready for it: b2b-etl push\)/);
    } finally {
      await portal.stop();
    }
  });

  it('a KPP changed at the source reaches the requisite in the CRM (crm.requisite.update); a manager\'s edit of another requisite field stands', async () => {
    const portal = await testPortal(db, fast);
    const [target] = await db.rows<{ company_id: string; kpp: string }>(`select company_id::text, kpp from canonical.company
      where is_ready and not is_deleted and length(inn) = 10 and kpp is not null order by company_id limit 1`);
    try {
      await portal.push(fastLimits);
      const [link] = await linkedCompanies(portal, `c.company_id = ${Number(target!.company_id)}`, 1);
      await rest(portal, 'crm.requisite.update', { id: link!.requisite_id, fields: { RQ_COMPANY_NAME: 'Название от менеджера' } });
      const kpp = target!.kpp === '771001001' ? '772001001' : '771001001';
      await db.pool.query(`update canonical.company set kpp = $2 where company_id = $1`, [target!.company_id, kpp]);

      const before = await lastCall(portal);
      const result = await portal.push(fastLimits);
      expect(await writes(portal, before)).toEqual(['crm.requisite.update']);
      expect(result.stats.company).toMatchObject({ updated: 1, failed: 0 });
      const { rows: [requisite] } = await portal.db.query(`select fields ->> 'RQ_KPP' as kpp, fields ->> 'RQ_COMPANY_NAME' as name from requisite where id = $1`, [link!.requisite_id]);
      expect(requisite).toEqual({ kpp, name: 'Название от менеджера' });
      // and it is settled: the next push writes nothing
      const after = await lastCall(portal);
      await portal.push(fastLimits);
      expect(await writes(portal, after)).toEqual([]);
    } finally {
      await db.pool.query(`update canonical.company set kpp = $2 where company_id = $1`, [target!.company_id, target!.kpp]);
      await portal.stop();
    }
  });

  it('a company whose name changed is updated with its requisite: its bank detail, unchanged, is not read again though what was pushed comes back from jsonb with its keys in another order', async () => {
    const portal = await testPortal(db, fast);
    const [target] = await db.rows<{ company_id: string; name: string | null }>(`select c.company_id::text, c.name from canonical.company c
      join etl.crm_company_out o using (company_id) where o.bank_account is not null order by c.company_id limit 1`);
    try {
      await portal.push(fastLimits);
      // jsonb keeps keys in its own order, not in the order the push wrote them
      const [stored] = await db.rows<{ keys: string[] }>(`select array(select jsonb_object_keys(pushed -> 'bank')) as keys from etl.crm_link
        where entity = 'company' and canonical_id = $1 and portal = $2`, [target!.company_id, portalKey(portal)]);
      expect(stored!.keys).not.toEqual(['RQ_BANK_NAME', 'RQ_BIK', 'RQ_ACC_NUM', 'RQ_COR_ACC_NUM'].filter((k) => stored!.keys.includes(k)));
      await db.pool.query(`update canonical.company set name = $2 where company_id = $1`, [target!.company_id, `${target!.name ?? 'ООО'} (новое название)`]);

      const before = await lastCall(portal);
      const result = await portal.push(fastLimits);
      expect(result.stats.company).toMatchObject({ updated: 1, failed: 0 });
      const { rows } = await portal.db.query<{ method: string }>(`
        select lower(coalesce(cc.method, c.method)) as method from call c left join call_command cc on cc.call_id = c.id
        where c.id > $1 and c.status in (0, 200) order by c.id, cc.position`, [before]);
      const methods = rows.map((r) => r.method);
      expect(methods).toContain('crm.company.get');
      expect(methods).not.toContain('crm.requisite.bankdetail.list');
      // the name is the company's title and its requisite's: both change, the bank detail does not
      expect(await writes(portal, before)).toEqual(['crm.company.update', 'crm.requisite.update']);
    } finally {
      await db.pool.query(`update canonical.company set name = $2 where company_id = $1`, [target!.company_id, target!.name]);
      await portal.stop();
    }
  });

  it('a legal address added to a linked company whose answer is lost is looked up, not added twice, and not sent again', async () => {
    const portal = await testPortal(db, fast);
    const [target] = await db.rows<{ company_id: string; legal_address: string }>(`select company_id::text, legal_address from canonical.company
      where is_ready and not is_deleted and legal_address is not null order by company_id limit 1`);
    try {
      // pushed without an address; the store sends one later
      await db.pool.query(`update canonical.company set legal_address = null where company_id = $1`, [target!.company_id]);
      await portal.push(fastLimits);
      await db.pool.query(`update canonical.company set legal_address = $2 where company_id = $1`, [target!.company_id, target!.legal_address]);
      const [link] = await linkedCompanies(portal, `c.company_id = ${Number(target!.company_id)}`, 1);
      const addresses = async () => Number((await portal.db.query(`select count(*) from address where type_id = 6 and entity_type_id = 8 and entity_id = $1`, [link!.requisite_id])).rows[0].count);
      expect(await addresses()).toBe(0);

      // the portal runs the batch with the address, then the connection drops
      portal.sandbox.inject({ kind: 'drop', method: 'crm.address.add', times: 1 });
      const before = await lastCall(portal);
      const result = await portal.push(fastLimits);
      expect(result.stats.unknownOutcomes).toBe(1);
      expect(await writes(portal, before)).toEqual(['crm.address.add']);
      expect(await addresses()).toBe(1);
      const [row] = await db.rows(`select state, has_address from etl.crm_link where portal = $1 and entity = 'company' and canonical_id = $2`, [portalKey(portal), target!.company_id]);
      expect(row).toEqual({ state: 'linked', has_address: true });

      const after = await lastCall(portal);
      await portal.push(fastLimits);
      expect(await writes(portal, after)).toEqual([]);
      expect(await addresses()).toBe(1);
    } finally {
      await db.pool.query(`update canonical.company set legal_address = $2 where company_id = $1`, [target!.company_id, target!.legal_address]);
      await portal.stop();
    }
  });

  it('a row a dead push left in the dark: relinked by its id when a manager cleared our key, kept deleted (with when and why) when the company was deleted; neither created again', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      const [renamed, deleted] = await linkedCompanies(portal, 'true', 2);
      await rest(portal, 'crm.company.update', { id: renamed!.bitrix_id, fields: { ORIGIN_ID: '' } });
      await rest(portal, 'crm.company.delete', { id: deleted!.bitrix_id });
      // what a push killed during an update that added parts leaves behind
      await db.pool.query(`update etl.crm_link set state = 'sending', claimed_by = null, intent_at = now() - interval '1 hour'
        where portal = $1 and entity = 'company' and canonical_id = any($2::bigint[])`, [portalKey(portal), [renamed!.company_id, deleted!.company_id]]);
      const companies = Number((await portal.db.query('select count(*) from company')).rows[0].count);

      const before = await lastCall(portal);
      const result = await portal.push(fastLimits);
      expect(await writes(portal, before)).toEqual([]);
      expect(Number((await portal.db.query('select count(*) from company')).rows[0].count)).toBe(companies);
      const rows = await db.rows<{ canonical_id: string; state: string; bitrix_id: string; last_error: string | null; noticed: boolean }>(
        `select canonical_id::text, state, bitrix_id::text, last_error, deleted_at is not null as noticed
         from etl.crm_link where portal = $1 and entity = 'company' and canonical_id = any($2::bigint[]) order by canonical_id`,
        [portalKey(portal), [renamed!.company_id, deleted!.company_id]]);
      expect(rows).toEqual([
        { canonical_id: renamed!.company_id, state: 'linked', bitrix_id: renamed!.bitrix_id, last_error: null, noticed: false },
        { canonical_id: deleted!.company_id, state: 'deleted', bitrix_id: deleted!.bitrix_id, last_error: expect.stringMatching(/^deleted in the CRM \(company no longer there by our ORIGIN_ID nor by its id\)/), noticed: true },
      ].sort((a, b) => Number(a.canonical_id) - Number(b.canonical_id)));
      expect(result.stats.company.deleted).toBe(1);
      // a deletion is no failure: nothing for a person to fix in the push, and nothing to retry
      expect(await db.rows(`select canonical_id::text, code from etl.crm_push_error where run_id = $1`, [result.runId])).toEqual([]);
      // the next push leaves both alone
      const after = await lastCall(portal);
      await portal.push(fastLimits);
      expect(await writes(portal, after)).toEqual([]);
    } finally {
      await portal.stop();
    }
  });

  it('a person a manager entered in a company an earlier push created is adopted when the store sends them, not created twice', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      const [record] = await db.rows<{ payload: Record<string, unknown>; company_id: string; bitrix_id: string }>(`
        select r.payload, c.company_id::text, l.bitrix_id::text
        from canonical.contact ct
        join canonical.contact_source cs on cs.contact_id = ct.contact_id and cs.source = 'store_b'
        join etl.source_contact s using (source, source_key)
        join staging.record r on r.staging_id = s.staging_id
        join canonical.company c on c.company_id = ct.company_id
        join etl.crm_link l on l.entity = 'company' and l.canonical_id = c.company_id and l.portal = $1 and l.how = 'created'
        order by ct.contact_id limit 1`, [portalKey(portal)]);
      const managers = await rest(portal, 'crm.contact.add', { fields: {
        NAME: 'Пётр', LAST_NAME: 'Сидоров', COMPANY_ID: record!.bitrix_id, PHONE: [{ VALUE: '+79035551122', VALUE_TYPE: 'MOBILE' }] } });
      const { email: _email, ...payload } = record!.payload;
      await landBatch(db.pool, { source: 'store_b', entity: 'contact', origin: 'test' }, [{
        sourceKey: 'reconcile-new-person', updatedAt: isoMicros('2026-11-21T09:00:00Z'), isDeleted: false,
        payload: { ...payload, name: { last: 'Сидоров', first: 'Пётр', middle: 'Ильич' }, phones: ['8 (903) 555-11-22'], updated: '2026-11-21T09:00:00Z' },
      }]);
      await runTransform(db.pool);
      const [person] = await db.rows<{ contact_id: string }>(`select contact_id::text from etl.crm_contact_out where '+79035551122' = any(phones)`);
      expect(person).toBeDefined();

      const before = await lastCall(portal);
      const result = await portal.push(fastLimits);
      expect(result.stats.contact).toMatchObject({ created: 0, adopted: 1, failed: 0 });
      expect(await writes(portal, before)).not.toContain('crm.item.batchimport');
      const [link] = await db.rows(`select bitrix_id::text, how from etl.crm_link where portal = $1 and entity = 'contact' and canonical_id = $2`, [portalKey(portal), person!.contact_id]);
      expect(link).toEqual({ bitrix_id: String(managers), how: 'adopted' });
      const { rows } = await portal.db.query(`select element_id::text from multifield where entity_id = 'CONTACT' and type_id = 'PHONE' and value = '+79035551122'`);
      expect(rows).toEqual([{ element_id: String(managers) }]);
    } finally {
      await portal.stop();
    }
  });
});
