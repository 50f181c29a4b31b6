import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { held, portalKey, readySample, rest, testPortal } from './helpers.js';

// A portal is one portal whatever address reaches it, and another portal is never taken for
// it. Its own database: portals of other tests, loaded the same way at the same time, would
// make the portal at a new address ambiguous (as they should).

let db: TestDatabase;
beforeAll(async () => {
  ({ db } = await readySample(71, { companies: 120, contacts: 400 }));
});
afterAll(async () => {
  await db?.drop();
});

const fast = { bucket: { size: 50, drainPerSecond: 50 }, operating: { importItemSeconds: 0.001 } };
const fastLimits = { limits: { drain: 50 } };

describe('which portal a webhook reaches', () => {
  it('the same portal at another address is the same portal: nothing created again, a value a manager removed stays removed, what a manager deleted stays deleted', async () => {
    const portal = await testPortal(db, fast);
    try {
      await portal.push(fastLimits);
      const before = await held(db, portal);
      const [edited, deleted] = await db.rows<{ company_id: string; bitrix_id: string }>(`
        select l.canonical_id::text as company_id, l.bitrix_id::text from etl.crm_link l join etl.crm_company_out o on o.company_id = l.canonical_id
        where l.portal = $1 and l.entity = 'company' and l.state = 'linked' and cardinality(o.phones) > 0 order by l.canonical_id limit 2`, [portalKey(portal)]);
      const [contact] = await db.rows<{ bitrix_id: string }>(`select l.bitrix_id::text from etl.crm_link l join etl.crm_contact_out o on o.contact_id = l.canonical_id
        where l.portal = $1 and l.entity = 'contact' and o.company_id not in ($2, $3) order by l.canonical_id limit 1`, [portalKey(portal), edited!.company_id, deleted!.company_id]);
      // a manager removes a phone we pushed, deletes a company and a contact
      const phones = (await rest(portal, 'crm.company.get', { id: edited!.bitrix_id })).PHONE as Array<{ ID: string; VALUE: string }>;
      await rest(portal, 'crm.company.update', { id: edited!.bitrix_id, fields: { PHONE: [{ ID: phones[0]!.ID, DELETE: 'Y' }] } });
      await rest(portal, 'crm.company.delete', { id: deleted!.bitrix_id });
      await rest(portal, 'crm.contact.delete', { id: contact!.bitrix_id });
      // and the company whose phone was removed changes in the clean base
      await db.pool.query(`update canonical.company set name = name || ' (обновлено)' where company_id = $1`, [edited!.company_id]);
      try {
        const other = portal.sandbox.webhookUrl.replace('://127.0.0.1:', '://localhost:');
        const said: string[] = [];
        const again = await portal.push({ ...fastLimits, webhookUrl: other, log: (line) => said.push(line) });
        const port = new URL(portal.sandbox.url).port;
        expect(again.portal).toBe(`127.0.0.1:${port}`);
        expect(again.address).toBe(`localhost:${port}`);
        expect(said.join('\n')).toMatch(new RegExp(`the portal at localhost:${port} is portal 127\\.0\\.0\\.1:${port} \\(reached before at 127\\.0\\.0\\.1:${port}\\)`));
        expect(again.stats.company).toMatchObject({ created: 0, adopted: 0, updated: 1 });
        expect(again.stats.contact).toMatchObject({ created: 0, adopted: 0 });
        const after = await held(db, portal);
        expect(after.crm).toEqual({ companies: before.crm.companies - 1, contacts: before.crm.contacts - 1 });
        const now = (await rest(portal, 'crm.company.get', { id: edited!.bitrix_id }, other)).PHONE as Array<{ VALUE: string }> | undefined;
        expect((now ?? []).map((p) => p.VALUE)).not.toContain(phones[0]!.VALUE);
        expect(await db.rows(`select address, portal, how from etl.crm_portal_address where portal = $1 order by address`, [`127.0.0.1:${port}`]))
          .toEqual([{ address: `127.0.0.1:${port}`, portal: `127.0.0.1:${port}`, how: 'first' }, { address: `localhost:${port}`, portal: `127.0.0.1:${port}`, how: 'recognised' }]);
      } finally {
        await db.pool.query(`update canonical.company set name = left(name, length(name) - length(' (обновлено)')) where company_id = $1`, [edited!.company_id]);
      }
    } finally {
      await portal.stop();
    }
  });

  it('a new portal at an address another portal was reached at is never taken for it; a portal holding our entities without links is never taken for an empty one', async () => {
    const first = await testPortal(db, fast);
    const second = await testPortal(db, fast);
    try {
      // the first portal holds a manager's company already: its ids are not the other portals'
      await rest(first, 'crm.company.add', { fields: { TITLE: 'Завёл менеджер' } });
      await first.push({ ...fastLimits, limit: 5 });
      // the first portal's address now serves another portal, which holds nothing of ours (a sandbox on a new database)
      await db.pool.query(`insert into etl.crm_portal_address (address, portal, how) values ($1, $2, 'first')`, [portalKey(second), portalKey(first)]);
      const refused = await second.push(fastLimits).then(() => null, (e: Error) => e);
      expect(refused?.message).toMatch(new RegExp(`^the portal at ${portalKey(second)} holds none of the [1-9][\\d ]* companies and contacts this warehouse created in portal ${portalKey(first)}: ` +
        'it is another portal .*crm\\.portal'));
      expect((await second.db.query('select count(*)::int as n from company')).rows[0].n).toBe(0);
      // named in the config, it is a portal of its own
      const named = await second.push({ ...fastLimits, limit: 3, portalName: 'staging' });
      expect(named.portal).toBe('staging');
      expect(named.stats.company.created).toBe(3);
    } finally {
      await first.stop();
      await second.stop();
    }
  });

});
