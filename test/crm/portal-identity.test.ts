import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { cliEnv, held, portalKey, readySample, rest, testPortal } from './helpers.js';

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


  it('a portal loaded the same way as a known one, at another time, is not taken for it: not at a new address, nor when crm.portal names the known one', async () => {
    const known = await testPortal(db, fast);
    const twin = await testPortal(db, fast);
    try {
      // the same entities under the same ids (each portal holds 11 of a manager's first, so no
      // other test's portal has these ids), pushed an hour apart
      for (const portal of [known, twin]) {
        for (let i = 0; i < 11; i++) await rest(portal, 'crm.company.add', { fields: { TITLE: `Завёл менеджер ${i}` } });
      }
      await known.push({ ...fastLimits, limit: 3, portalName: 'known' });
      await db.pool.query(`update etl.crm_link set created_at = created_at - interval '1 hour' where portal = 'known'`);
      await db.pool.query(`delete from etl.crm_portal_address where portal = 'known'`);
      await twin.push({ ...fastLimits, limit: 3, portalName: 'twin' });
      await db.pool.query(`delete from etl.crm_portal_address where portal = 'twin'`);
      // the twin at an address never seen: recognised as itself, not as the known one with the same ids
      const other = twin.sandbox.webhookUrl.replace('://127.0.0.1:', '://localhost:');
      expect((await twin.push({ ...fastLimits, webhookUrl: other, limit: 0 })).portal).toBe('twin');
      await db.pool.query(`delete from etl.crm_portal_address where portal = 'twin'`);
      // named as the known one, it is refused: the same ids, created at another time
      const named = await twin.push({ ...fastLimits, portalName: 'known' }).then(() => null, (e: Error) => e);
      expect(named?.message).toMatch(/but created at other times than portal known's: it is another portal loaded the same way, not the one crm.portal names/);
      // loaded at the same time, but most of ours there under other ids than the known one's links say: refused too
      await db.pool.query(`update etl.crm_link set created_at = created_at + interval '1 hour' where portal = 'known'`);
      await db.pool.query(`update etl.crm_link set bitrix_id = bitrix_id + 1000 where portal = 'known' and entity = 'company'
        and canonical_id in (select canonical_id from etl.crm_link where portal = 'known' and entity = 'company' order by canonical_id limit 2)`);
      const contradicted = await twin.push({ ...fastLimits, portalName: 'known' }).then(() => null, (e: Error) => e);
      expect(contradicted?.message).toMatch(/but [1-9]\d* of the oldest are there under other CRM ids than portal known's links say: it is another portal/);
      expect((await twin.db.query('select count(*)::int as n from company')).rows[0].n).toBe(11 + 3);
      // named as itself, it goes on
      const itself = await twin.push({ ...fastLimits, limit: 5, portalName: 'twin' });
      expect(itself.stats.company).toMatchObject({ created: 5, adopted: 0 });
      expect((await twin.db.query('select count(*)::int as n from company')).rows[0].n).toBe(11 + 8);
    } finally {
      await known.stop();
      await twin.stop();
    }
  });
});

// Alone in its database: other portals loaded the same way within minutes would make the
// portal the second push finds ambiguous, as it should be.
describe('first pushes to a new portal', () => {
  let alone: TestDatabase;
  beforeAll(async () => {
    ({ db: alone } = await readySample(73, { companies: 60, contacts: 200 }));
  });
  afterAll(async () => {
    await alone?.drop();
  });

  it('two first pushes at once through two addresses of one new portal take turns: the second finds the first\'s work, nothing is created twice', async () => {
    const portal = await testPortal(alone, fast);
    try {
      const other = portal.sandbox.webhookUrl.replace('://127.0.0.1:', '://localhost:');
      const [a, b] = await Promise.all([
        runCli(['push', '--progress-seconds', '0'], alone.url, cliEnv(portal, { bucketSize: 50, drain: 50 })),
        runCli(['push', '--progress-seconds', '0'], alone.url, cliEnv(portal, { bucketSize: 50, drain: 50 }, other)),
      ]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      // the one that came second waited its turn, or started when the first had created some already: either way it knew the portal
      expect(a.stderr + b.stderr).toMatch(/waiting for another first push to a new portal to finish|push: the portal at \S+ is portal /);
      const { rows: [crm] } = await portal.db.query<{ companies: number; company_keys: number; contacts: number; contact_keys: number }>(`
        select (select count(*)::int from company) as companies, (select count(distinct origin_id)::int from company) as company_keys,
               (select count(*)::int from contact) as contacts, (select count(distinct origin_id)::int from contact) as contact_keys`);
      expect(crm!.companies).toBe(crm!.company_keys);
      expect(crm!.contacts).toBe(crm!.contact_keys);
      expect(crm!.company_keys).toBe(Number(await alone.value('select count(*) from etl.crm_company_out')));
      const port = new URL(portal.sandbox.url).port;
      expect(await alone.rows(`select portal from etl.crm_portal_address where address in ($1, $2) group by portal`, [`127.0.0.1:${port}`, `localhost:${port}`])).toHaveLength(1);
    } finally {
      await portal.stop();
    }
  });
});

// Alone in a database of its own too: the portal of the test above, loaded the same way a moment
// before, would make this one ambiguous whenever its two pushes took turns (ids in the same order).
describe('a first push killed before it knew the CRM ids', () => {
  let alone: TestDatabase;
  beforeAll(async () => {
    ({ db: alone } = await readySample(73, { companies: 60, contacts: 200 }));
  });
  afterAll(async () => {
    await alone?.drop();
  });

  it('a first push killed before it knew the CRM ids: another address of the portal is recognised by when those creates left, and the push goes on', async () => {
    const portal = await testPortal(alone, fast);
    try {
      await portal.push({ ...fastLimits, limit: 10 });
      // as a push killed while its answers were on their way leaves it: sent, no CRM id known
      const key = new URL(portal.sandbox.url).host;
      await alone.pool.query(`update etl.crm_link set state = 'sending', bitrix_id = null, requisite_id = null, bankdetail_id = null, has_address = false,
        sent_at = created_at, created_at = null, claimed_by = null where portal = $1`, [key]);
      const other = portal.sandbox.webhookUrl.replace('://127.0.0.1:', '://localhost:');
      const said: string[] = [];
      const result = await portal.push({ ...fastLimits, webhookUrl: other, log: (line) => said.push(line) });
      expect(result.portal).toBe(key);
      expect(said.join('\n')).toMatch(new RegExp(`the portal at localhost:\\d+ is portal ${key.replace(/\./g, '\\.')}`));
      const { rows: [crm] } = await portal.db.query<{ companies: number; keys: number }>('select count(*)::int as companies, count(distinct origin_id)::int as keys from company');
      expect(crm!.companies).toBe(crm!.keys);
      expect(crm!.companies).toBe(Number(await alone.value('select count(*) from etl.crm_company_out')));
    } finally {
      await portal.stop();
    }
  });
});
