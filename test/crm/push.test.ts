import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoMicros } from '../../src/land/change-time.js';
import { landBatch } from '../../src/land/staging-writer.js';
import { runTransform } from '../../src/transform/run.js';
import type { TestDatabase } from '../helpers/db.js';
import { readySample, rest, testPortal, type TestPortal } from './helpers.js';

// The push against the sandbox portal over real HTTPS: what the portal holds afterwards,
// and what it was sent (its call log), for the cases the push exists to get right.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(41, { companies: 220, contacts: 700 }));
});
afterAll(async () => {
  await db?.drop();
});

/** A portal fast enough for tests: its bucket drains 50 a second, imports cost next to nothing. */
const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };
const fastLimits = { limits: { drain: 50 } };

/** Method names as the portal keeps them (it lower-cases them). */
const WRITE = /\.(add|update|delete|set|import|batchimport)$/;

/** Methods the portal ran, batches opened up, from call id `after` on. */
async function methods(portal: TestPortal, after = 0): Promise<string[]> {
  const { rows } = await portal.db.query<{ method: string }>(`
    select lower(coalesce(cc.method, c.method)) as method from call c left join call_command cc on cc.call_id = c.id
    where c.id > $1 and c.status = 200 order by c.id, cc.position`, [after]);
  return rows.map((r) => r.method);
}
const lastCall = async (portal: TestPortal) => Number((await portal.db.query<{ id: string | null }>('select max(id) as id from call')).rows[0]!.id ?? 0);

/** What the portal holds, keyed by our ids: companies with their requisite, bank detail and address; contacts with their company. */
async function holdings(portal: TestPortal) {
  const { rows: companies } = await portal.db.query<{ origin: string; n: string; title: string; via: string; inn: string | null; requisites: string; banks: string; addresses: string; phones: string[] }>(`
    select c.origin_id as origin, count(*) over (partition by c.origin_id) as n, c.title, c.created_via as via,
      (select string_agg(r.rq_inn, ',') from requisite r where r.entity_type_id = 4 and r.entity_id = c.id) as inn,
      (select count(*) from requisite r where r.entity_type_id = 4 and r.entity_id = c.id) as requisites,
      (select count(*) from requisite r join bank_detail b on b.requisite_id = r.id where r.entity_type_id = 4 and r.entity_id = c.id) as banks,
      (select count(*) from requisite r join address a on a.entity_type_id = 8 and a.entity_id = r.id and a.type_id = 6 where r.entity_type_id = 4 and r.entity_id = c.id) as addresses,
      array(select m.value from multifield m where m.entity_id = 'COMPANY' and m.element_id = c.id and m.type_id = 'PHONE' order by m.value) as phones
    from company c`);
  const { rows: contacts } = await portal.db.query<{ origin: string; n: string; company_origin: string | null; via: string; phones: string[] }>(`
    select ct.origin_id as origin, count(*) over (partition by ct.origin_id) as n, co.origin_id as company_origin, ct.created_via as via,
      array(select m.value from multifield m where m.entity_id = 'CONTACT' and m.element_id = ct.id and m.type_id = 'PHONE' order by m.value) as phones
    from contact ct left join company co on co.id = (ct.fields ->> 'COMPANY_ID')::bigint`);
  return { companies, contacts };
}

describe('push to the sandbox portal', () => {
  it('puts exactly the ready companies (requisite, bank detail, legal address) and their contacts in the CRM, by import; a second push writes nothing', async () => {
    const portal = await testPortal(db, fast);
    try {
      const result = await portal.push(fastLimits);
      const ready = await db.rows<{ company_id: string; inn: string; title: string; banked: boolean; addressed: boolean; phones: string[] }>(
        `select company_id::text, inn, title, bank_account is not null or bank_bik is not null as banked, legal_address is not null as addressed,
                array(select unnest(phones) order by 1) as phones from etl.crm_company_out`);
      const contacts = await db.rows<{ contact_id: string; company_id: string; phones: string[] }>(
        `select contact_id::text, company_id::text, array(select unnest(phones) order by 1) as phones from etl.crm_contact_out`);
      expect(ready.length).toBeGreaterThan(100);
      expect(contacts.length).toBeGreaterThan(300);
      expect(result.stats.company).toMatchObject({ created: ready.length, adopted: 0, failed: 0 });
      expect(result.stats.contact).toMatchObject({ created: contacts.length, adopted: 0, failed: 0 });

      const held = await holdings(portal);
      const companies = new Map(held.companies.map((c) => [c.origin, c]));
      expect(held.companies.length).toBe(ready.length);
      const wrong = ready.filter((r) => {
        const c = companies.get(r.company_id);
        return !c || c.n !== '1' || c.title !== r.title || c.inn !== r.inn || c.requisites !== '1' || c.via !== 'import' ||
          c.banks !== (r.banked ? '1' : '0') || c.addresses !== (r.addressed ? '1' : '0') || JSON.stringify(c.phones) !== JSON.stringify(r.phones);
      });
      expect(wrong.slice(0, 3).map((r) => [r, companies.get(r.company_id)])).toEqual([]);
      const inCrm = new Map(held.contacts.map((c) => [c.origin, c]));
      expect(held.contacts.length).toBe(contacts.length);
      const misplaced = contacts.filter((c) => {
        const got = inCrm.get(c.contact_id);
        return !got || got.n !== '1' || got.company_origin !== c.company_id || got.via !== 'import' || JSON.stringify(got.phones) !== JSON.stringify(c.phones);
      });
      expect(misplaced.slice(0, 3)).toEqual([]);
      // import mode: no automation; nothing created through *.add
      const sent = await methods(portal);
      expect(sent).toContain('crm.item.batchimport');
      expect(sent.filter((m) => m === 'crm.company.add' || m === 'crm.contact.add')).toEqual([]);
      // the portal never refused a request
      expect(await portal.db.query(`select count(*)::int as n from call where status <> 200`).then((r) => r.rows[0].n)).toBe(0);

      const before = await lastCall(portal);
      const again = await portal.push(fastLimits);
      expect((await methods(portal, before)).filter((m) => WRITE.test(m))).toEqual([]);
      expect(again.stats.company).toMatchObject({ created: 0, updated: 0, unchanged: ready.length });
      expect(again.stats.contact).toMatchObject({ created: 0, updated: 0, unchanged: contacts.length });
    } finally {
      await portal.stop();
    }
  });

  it('--mode add creates through crm.*.add without feed events; the webhook\'s missing import right is named', async () => {
    const portal = await testPortal(db, fast);
    const denied = await testPortal(db, { ...fast, importRight: false });
    try {
      await portal.push({ ...fastLimits, mode: 'add', limit: 5 });
      const { rows } = await portal.db.query<{ via: string; n: number }>('select created_via as via, count(*)::int as n from company group by 1');
      expect(rows).toEqual([{ via: 'add', n: 5 }]);
      const { rows: adds } = await portal.db.query<{ params: Record<string, unknown> }>(`select params from call_command where method = 'crm.company.add' limit 1`);
      expect(adds[0]!.params).toMatchObject({ params: { REGISTER_SONET_EVENT: 'N' } });

      const stopped = await denied.push({ ...fastLimits, limit: 5 });
      expect(stopped.stopped).toMatch(/may not import companies .*"Import" permission.* --mode add/);
      expect(stopped.queued).toBe(false); // a person has to act: no push is queued to fail again
      expect(Number((await denied.db.query('select count(*) from company')).rows[0].count)).toBe(0);
      expect(await db.value(`select count(*) from etl.crm_link where portal = $1`, [new URL(denied.sandbox.url).host])).toBe('0');
    } finally {
      await portal.stop();
      await denied.stop();
    }
  });

  it('adopts a company a manager created with the same INN, and a contact a manager created in it, instead of doubling them', async () => {
    const portal = await testPortal(db, fast);
    try {
      const [target] = await db.rows<{ company_id: string; inn: string; phone: string; contact_id: string }>(`
        select c.company_id::text, c.inn, ct.phones[1] as phone, ct.contact_id::text
        from etl.crm_company_out c join etl.crm_contact_out ct using (company_id)
        where length(c.inn) = 10 and cardinality(ct.phones) > 0 order by c.company_id limit 1`);
      const presets = await portal.sandbox.calls(); // nothing yet
      expect(presets).toEqual([]);
      const call = (method: string, params: unknown) => rest(portal, method, params);
      const preset = (await call('crm.requisite.preset.list', {})).find((p: { XML_ID: string }) => p.XML_ID === '#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#');
      const managerCompany = await call('crm.company.add', { fields: { TITLE: 'Ромашка (завёл менеджер)', PHONE: [{ VALUE: '+74950000001', VALUE_TYPE: 'WORK' }] } });
      await call('crm.requisite.add', { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: managerCompany, PRESET_ID: preset.ID, NAME: 'Реквизиты', RQ_INN: target!.inn } });
      const managerContact = await call('crm.contact.add', { fields: { NAME: 'Иван', COMPANY_ID: managerCompany, PHONE: [{ VALUE: target!.phone, VALUE_TYPE: 'MOBILE' }] } });

      const result = await portal.push(fastLimits);
      expect(result.stats.company.adopted).toBe(1);
      expect(result.stats.contact.adopted).toBe(1);
      const link = await db.rows(`select entity, bitrix_id::text, how from etl.crm_link where portal like '%:' || $1 and canonical_id = any($2::bigint[]) and how = 'adopted' order by entity`,
        [new URL(portal.sandbox.url).port, [target!.company_id, target!.contact_id]]);
      expect(link).toEqual([{ entity: 'company', bitrix_id: String(managerCompany), how: 'adopted' }, { entity: 'contact', bitrix_id: String(managerContact), how: 'adopted' }]);
      // one company for that INN, the manager's title and phone kept, ours added
      const { rows } = await portal.db.query(`select c.id, c.title from company c join requisite r on r.entity_id = c.id where r.rq_inn = $1`, [target!.inn]);
      expect(rows).toEqual([{ id: String(managerCompany), title: 'Ромашка (завёл менеджер)' }]);
      const phones = (await portal.db.query(`select value from multifield where entity_id = 'COMPANY' and element_id = $1 and type_id = 'PHONE'`, [managerCompany])).rows.map((r) => r.value);
      const ours = (await db.rows<{ phones: string[] }>(`select phones from etl.crm_company_out where company_id = $1`, [target!.company_id]))[0]!.phones;
      expect(phones.sort()).toEqual([...new Set(['+74950000001', ...ours])].sort());
      // no second contact with that phone in that company
      const { rows: same } = await portal.db.query(`select ct.id from contact ct join multifield m on m.entity_id = 'CONTACT' and m.element_id = ct.id
        where m.value = $1 and (ct.fields ->> 'COMPANY_ID')::bigint = $2`, [target!.phone, managerCompany]);
      expect(same).toEqual([{ id: String(managerContact) }]);
    } finally {
      await portal.stop();
    }
  });

  it('sends one update for one changed phone, keeps a manager\'s edits, and never deletes a company that left the clean base', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      // a contact's phone and position change at the source (a new version of its store B
      // record); a manager had changed its position in the CRM
      const [record] = await db.rows<{ source_key: string; payload: Record<string, unknown>; contact_id: string; bitrix_id: string }>(`
        select r.source_key, r.payload, cs.contact_id::text, l.bitrix_id::text
        from canonical.contact_source cs
        join etl.source_contact s using (source, source_key)
        join staging.record r on r.staging_id = s.staging_id
        join etl.crm_link l on l.entity = 'contact' and l.canonical_id = cs.contact_id and l.portal like '%:' || $1
        join canonical.contact c on c.contact_id = cs.contact_id
        where cs.source = 'store_b' and c.source_count = 1 and jsonb_array_length(r.payload -> 'phones') = 1
        order by cs.contact_id limit 1`, [new URL(portal.sandbox.url).port]);
      await rest(portal, 'crm.contact.update', { id: record!.bitrix_id, fields: { POST: 'Главный закупщик' } });
      const changed = { ...record!.payload, phones: ['+7 (916) 555-44-33'], position: 'Инженер', updated: '2026-11-20T10:00:00Z' };
      await landBatch(db.pool, { source: 'store_b', entity: 'contact', origin: 'test' }, [
        { sourceKey: record!.source_key, updatedAt: isoMicros('2026-11-20T10:00:00Z'), isDeleted: false, payload: changed }]);
      // a manager renames a company and adds a phone to it in the CRM; at the source its phones change
      const [company] = await db.rows<{ company_id: string; bitrix_id: string; source_key: string; payload: Record<string, unknown> }>(`
        select c.company_id::text, l.bitrix_id::text, cs.source_key, r.payload
        from canonical.company c
        join canonical.company_source cs using (company_id)
        join etl.source_company s using (source, source_key)
        join staging.record r on r.staging_id = s.staging_id
        join etl.crm_link l on l.entity = 'company' and l.canonical_id = c.company_id and l.portal like '%:' || $1
        where c.source_count = 1 and cs.source = 'store_b' and c.name = s.name order by c.company_id limit 1`, [new URL(portal.sandbox.url).port]);
      await rest(portal, 'crm.company.update', { id: company!.bitrix_id, fields: { TITLE: 'Название от менеджера', PHONE: [{ VALUE: '+74957777777', VALUE_TYPE: 'WORK' }] } });
      const pushedPhones = (await db.rows<{ phones: string[] }>(`select phones from etl.crm_company_out where company_id = $1`, [company!.company_id]))[0]!.phones;
      await landBatch(db.pool, { source: 'store_b', entity: 'company', origin: 'test' }, [
        { sourceKey: company!.source_key, updatedAt: isoMicros('2026-11-20T10:00:00Z'), isDeleted: false, payload: { ...company!.payload, phones: ['8 495 123-45-67'], updated: '2026-11-20T10:00:00Z' } }]);
      // and another company leaves the clean base (the registry no longer says it is active)
      const [gone] = await db.rows<{ company_id: string; bitrix_id: string }>(`
        select c.company_id::text, l.bitrix_id::text from canonical.company c
        join etl.crm_link l on l.entity = 'company' and l.canonical_id = c.company_id and l.portal like '%:' || $1
        where c.company_id <> $2 order by c.company_id desc limit 1`, [new URL(portal.sandbox.url).port, company!.company_id]);
      await runTransform(db.pool);
      await db.pool.query(`update canonical.company set is_ready = false where company_id = $1`, [gone!.company_id]);

      const before = await lastCall(portal);
      const result = await portal.push(fastLimits);
      const writes = (await methods(portal, before)).filter((m) => WRITE.test(m));
      expect(writes.sort()).toEqual(['crm.company.update', 'crm.contact.update']);
      expect(result.stats.contact.updated).toBe(1);
      const phones = (await portal.db.query(`select value from multifield where entity_id = 'CONTACT' and element_id = $1 and type_id = 'PHONE'`, [record!.bitrix_id])).rows.map((r) => r.value);
      expect(phones).toEqual(['+79165554433']);
      const { rows: [crmContact] } = await portal.db.query(`select fields ->> 'POST' as post from contact where id = $1`, [record!.bitrix_id]);
      expect(crmContact.post).toBe('Главный закупщик'); // the manager's edit stands
      const { rows: [crmCompany] } = await portal.db.query(`select title from company where id = $1`, [company!.bitrix_id]);
      expect(crmCompany.title).toBe('Название от менеджера');
      // ours replaced (the old ones were ours: removed), the manager's kept
      const companyPhones = (await portal.db.query(`select value from multifield where entity_id = 'COMPANY' and element_id = $1 and type_id = 'PHONE'`, [company!.bitrix_id])).rows.map((r) => r.value);
      expect(companyPhones.sort()).toEqual(['+74951234567', '+74957777777']);
      expect(pushedPhones.length).toBeGreaterThan(0);
      expect(result.departed.company).toBe(1);
      expect((await portal.db.query(`select count(*)::int as n from company where id = $1`, [gone!.bitrix_id])).rows[0].n).toBe(1);
      await db.pool.query(`update canonical.company set is_ready = true where company_id = $1`, [gone!.company_id]);
    } finally {
      await portal.stop();
    }
  });

  it('a command the portal refuses fails only its entity, with the portal\'s words', async () => {
    const portal = await testPortal(db, fast);
    const [bad] = await db.rows<{ company_id: string; emails: string[] }>(`select company_id::text, emails from canonical.company where is_ready order by company_id limit 1`);
    try {
      // an address the CRM refuses (a rule that drifted from ours)
      await db.pool.query(`update canonical.company set emails = array['плохой адрес@'] where company_id = $1`, [bad!.company_id]);
      const result = await portal.push({ ...fastLimits, limit: 30 });
      expect(result.stats.company).toMatchObject({ created: 29, failed: 1 });
      const errors = await db.rows<{ canonical_id: string; method: string; code: string; description: string }>(
        `select canonical_id::text, method, code, description from etl.crm_push_error where run_id = $1`, [result.runId]);
      expect(errors).toEqual([{ canonical_id: bad!.company_id, method: 'crm.item.batchImport', code: 'ERROR_CORE', description: expect.stringMatching(/E-mail/) }]);
    } finally {
      await db.pool.query(`update canonical.company set emails = $2 where company_id = $1`, [bad!.company_id, bad!.emails]);
      await portal.stop();
    }
  });

  it('--dry-run reads and tells, writes nothing', async () => {
    const portal = await testPortal(db, fast);
    try {
      const result = await portal.push({ ...fastLimits, dryRun: true });
      const ready = Number(await db.value(`select count(*) from etl.crm_company_out`));
      expect(result.plan?.company).toMatchObject({ create: ready, adopt: 0, update: 0 });
      expect(result.plan?.examples.create.length).toBe(10);
      expect((await methods(portal)).filter((m) => WRITE.test(m))).toEqual([]);
      expect(await db.value(`select count(*) from etl.crm_link where portal like '%:' || $1`, [new URL(portal.sandbox.url).port])).toBe('0');
    } finally {
      await portal.stop();
    }
  });
});

/** A call a manager would make in the portal: straight to the REST API. */
