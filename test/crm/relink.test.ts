import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { readySample, testPortal } from './helpers.js';

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
});
