import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { readySample, rest, testPortal } from './helpers.js';

// A portal that already holds what an earlier push created, while our links to it are gone
// (etl.crm_link emptied, restored from an older backup, or kept under another address of the
// same portal, as a sandbox on a new port): everything is found again, nothing is doubled.

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(59, { companies: 120, contacts: 600 }));
});
afterAll(async () => {
  await db?.drop();
});

const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };

describe('a push whose links to the portal are lost', () => {
  it('finds the companies by INN and the contacts by ORIGIN_ID, even those without a phone or an e-mail, and creates nothing twice', async () => {
    const companies = Number(await db.value(`select count(*) from etl.crm_company_out`));
    const contacts = Number(await db.value(`select count(*) from etl.crm_contact_out`));
    // the case findbycomm cannot cover: nothing to look such a contact up by
    expect(Number(await db.value(`select count(*) from etl.crm_contact_out where cardinality(phones) = 0 and cardinality(emails) = 0`))).toBeGreaterThan(0);
    const portal = await testPortal(db, fast);
    try {
      const first = await portal.push({ limits: { drain: 50 } });
      expect(first.stats.contact.created).toBe(contacts);
      await db.pool.query('delete from etl.crm_link');
      // a portal holding what this warehouse created is never taken for an empty one
      const refused = await portal.push({ limits: { drain: 50 } }).then(() => null, (e: Error) => e);
      expect(refused?.message).toMatch(new RegExp(`^the portal at ${new URL(portal.sandbox.url).host} holds ${companies} companies and ${contacts} contacts created by b2b-etl .*` +
        'but this warehouse has no links to them.* push --relink finds them again'));
      expect(await db.value('select count(*) from etl.crm_link')).toBe('0');
      const again = await portal.push({ limits: { drain: 50 }, relink: true });
      expect(again.stats.company).toEqual({ created: 0, adopted: companies, updated: 0, unchanged: 0, failed: 0, deleted: 0 });
      expect(again.stats.contact).toEqual({ created: 0, adopted: contacts, updated: 0, unchanged: 0, failed: 0, deleted: 0 });
      const { rows: [held] } = await portal.db.query<{ companies: number; contacts: number; contact_keys: number }>(`
        select (select count(*)::int from company) as companies, (select count(*)::int from contact) as contacts,
               (select count(distinct origin_id)::int from contact) as contact_keys`);
      expect(held).toEqual({ companies, contacts, contact_keys: contacts });
      // and the links are whole again: a third push writes nothing
      const third = await portal.push({ limits: { drain: 50 } });
      expect(third.stats.contact).toEqual({ created: 0, adopted: 0, updated: 0, unchanged: contacts, failed: 0, deleted: 0 });
      // what was found again is ours, not a manager's: the clean base's changes reach it
      const [contact] = await db.rows<{ contact_id: string; bitrix_id: string; how: string }>(`select l.canonical_id::text as contact_id, l.bitrix_id::text, l.how
        from etl.crm_link l join canonical.contact c on c.contact_id = l.canonical_id where l.entity = 'contact' and c.last_name is not null order by l.canonical_id limit 1`);
      const [company] = await db.rows<{ company_id: string; bitrix_id: string; how: string }>(`select l.canonical_id::text as company_id, l.bitrix_id::text, l.how
        from etl.crm_link l where l.entity = 'company' order by l.canonical_id limit 1`);
      expect([contact!.how, company!.how]).toEqual(['created', 'created']);
      await db.pool.query(`update canonical.contact set last_name = 'Егоров-Новый', position = 'Снабженец' where contact_id = $1`, [contact!.contact_id]);
      await db.pool.query(`update canonical.company set name = name || ' (новое)' where company_id = $1`, [company!.company_id]);
      const fourth = await portal.push({ limits: { drain: 50 } });
      expect(fourth.stats.contact.updated).toBe(1);
      expect(fourth.stats.company.updated).toBe(1);
      const { rows: [crmContact] } = await portal.db.query(`select fields ->> 'LAST_NAME' as last, fields ->> 'POST' as post from contact where id = $1`, [contact!.bitrix_id]);
      expect(crmContact).toEqual({ last: 'Егоров-Новый', post: 'Снабженец' });
      const { rows: [crmCompany] } = await portal.db.query(`select title from company where id = $1`, [company!.bitrix_id]);
      expect(crmCompany.title).toMatch(/ \(новое\)$/);
    } finally {
      await portal.stop();
    }
  });

  it('--relink keeps what a manager did, and never takes another person for ours because an ORIGIN_ID matches', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push({ limits: { drain: 50 } });
      const pick = async (where: string) => (await db.rows<{ contact_id: string; company_id: string; bitrix_id: string; phone: string }>(`
        select o.contact_id::text, o.company_id::text, l.bitrix_id::text, o.phones[1] as phone from etl.crm_contact_out o
        join etl.crm_link l on l.entity = 'contact' and l.canonical_id = o.contact_id where cardinality(o.phones) > 0 and ${where}
        order by o.contact_id limit 1`))[0]!;
      const edited = await pick('true');
      const other = await pick(`o.company_id <> ${Number(edited.company_id)}`);
      const foreign = await pick(`o.company_id not in (${Number(edited.company_id)}, ${Number(other.company_id)}) and o.contact_id > ${Number(other.contact_id)}`);
      // a manager renames one person and removes our phone of them
      const crm = await rest(portal, 'crm.contact.get', { id: edited.bitrix_id });
      await rest(portal, 'crm.contact.update', { id: edited.bitrix_id, fields: { LAST_NAME: 'Лебедев-Менеджер', PHONE: [{ ID: crm.PHONE[0].ID, DELETE: 'Y' }] } });
      // another CRM person carries the ORIGIN_ID of someone else (another warehouse's numbering, a restored backup's)
      await rest(portal, 'crm.contact.update', { id: other.bitrix_id, fields: { ORIGIN_ID: foreign.contact_id } });
      const before = (await rest(portal, 'crm.contact.get', { id: other.bitrix_id })) as Record<string, unknown>;
      await db.pool.query('delete from etl.crm_link');

      const relinked = await portal.push({ limits: { drain: 50 }, relink: true });
      expect(relinked.stats.contact).toMatchObject({ created: 0, updated: 0, failed: 0 });
      const after = await rest(portal, 'crm.contact.get', { id: edited.bitrix_id });
      expect(after.LAST_NAME).toBe('Лебедев-Менеджер');
      expect((after.PHONE ?? []).map((p: { VALUE: string }) => p.VALUE)).not.toContain(edited.phone);
      // the person whose ORIGIN_ID names someone else is left as it was, and that someone is linked to their own CRM contact
      const untouched = (await rest(portal, 'crm.contact.get', { id: other.bitrix_id })) as Record<string, unknown>;
      expect({ ...untouched, DATE_MODIFY: null }).toEqual({ ...before, DATE_MODIFY: null });
      expect(await db.value(`select bitrix_id::text from etl.crm_link where entity = 'contact' and canonical_id = $1`, [foreign.contact_id])).toBe(foreign.bitrix_id);
      // nothing was created twice
      const { rows: [held] } = await portal.db.query<{ contacts: number }>('select count(*)::int as contacts from contact');
      expect(held!.contacts).toBe(Number(await db.value('select count(*) from etl.crm_contact_out')));
    } finally {
      await portal.stop();
    }
  });
});
